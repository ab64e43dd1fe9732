// Business Central <-> Anaplan connector: one resource-group deployment of everything it runs on.
//
//   Linux Function App, Python 3.11, on Flex Consumption (default) or Elastic Premium
//   Storage account for AzureWebJobsStorage (identity-based, shared keys disabled)
//   Key Vault (RBAC) with the connector's secrets as placeholders the operator fills
//   Application Insights on a Log Analytics workspace
//   Role assignments for the app's system-assigned identity (and optionally an operator group)
//
// Deploy: az deployment group create -g <rg> -f infra/main.bicep -p @infra/main.parameters.json
// See infra/README.md. tests/infra/test_bicep_consistency.py checks this file against the code:
// keep every app setting in the *Settings variables below, one `NAME: value` per line.

targetScope = 'resourceGroup'

// ------------------------------------------------------------------------------------------------
// Deployment shape
// ------------------------------------------------------------------------------------------------

@description('Short lowercase name used in every resource name: letters and digits only.')
@minLength(3)
@maxLength(12)
param namePrefix string = 'bcanaplan'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Hosting plan: FlexConsumption (serverless, scale to zero) or ElasticPremium (always-warm instances, WEBSITE_TIME_ZONE).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param planType string = 'FlexConsumption'

@description('Flex Consumption: memory per instance.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

@description('Flex Consumption: most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param flexMaximumInstanceCount int = 40

@description('Elastic Premium: instance size.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Elastic Premium: most instances the plan scales out to.')
@minValue(1)
@maxValue(100)
param premiumMaximumElasticWorkerCount int = 5

@description('Elastic Premium: blob name of the app package in the package container (run from package).')
param packageBlobName string = 'bc-anaplan.zip'

@description('Redundancy of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_LRS'

@description('Create the Key Vault secrets as disabled placeholders. Pass true on the FIRST deployment only (see README).')
param createSecretPlaceholders bool = false

@description('Key Vault purge protection (cannot be switched off again once on).')
param keyVaultPurgeProtection bool = true

@description('Optional: object id of the operator group (or user) that sets secrets and reads the audit trail.')
param operatorPrincipalId string = ''

@description('Kind of the operator principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'Group'

@description('Days the Log Analytics workspace keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('Tags for every resource.')
param tags object = {}

// ------------------------------------------------------------------------------------------------
// Connector settings (bc_anaplan/config.py SETTINGS, and the schedules the bindings name).
// Defaults are the code's defaults.
// ------------------------------------------------------------------------------------------------

@description('Entra ID tenant id (GUID) of the Business Central environment.')
param bcTenantId string

@description('Business Central environment name, e.g. Production.')
param bcEnvironment string

@description('Application (client) id of the Entra app registration for Business Central.')
param bcClientId string

@description('BC company id (GUID); connector.toml takes it as \${BC_COMPANY_ID}.')
param bcCompanyId string

@description('Business Central API host.')
param bcApiBaseUrl string = 'https://api.businesscentral.dynamics.com'

@description('Entra ID authority host.')
param entraAuthorityHost string = 'https://login.microsoftonline.com'

@description('Anaplan authentication API host.')
param anaplanAuthUrl string = 'https://auth.anaplan.com'

@description('Anaplan Integration API host.')
param anaplanApiUrl string = 'https://api.anaplan.com'

@description('Anaplan workspace id; connector.toml takes it as \${ANAPLAN_WORKSPACE_ID}.')
param anaplanWorkspaceId string

@description('Anaplan model id; connector.toml takes it as \${ANAPLAN_MODEL_ID}.')
param anaplanModelId string

@description('Anaplan login: basic (user + password secret) or certificate (certificate + private key secrets).')
@allowed([
  'basic'
  'certificate'
])
param anaplanAuthMode string = 'basic'

@description('Anaplan integration user (required for basic authentication).')
param anaplanUser string = ''

@description('Certificate login payload: v2 (timestamped) or v1 (legacy).')
@allowed([
  'v2'
  'v1'
])
param anaplanCertFormat string = 'v2'

@description('Public https address of the app (webhook notification URL, report links). Empty = https://<default host name>.')
param publicBaseUrl string = ''

@description('Durable Functions task hub name: 3-45 letters and digits, starting with a letter. Also prefixes the connector tables and containers.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'bcanaplan'

@description('Six-field NCRONTAB: nightly reference sync.')
param referenceSyncSchedule string = '0 0 2 * * *'

@description('Six-field NCRONTAB: nightly incremental actuals load.')
param actualsSchedule string = '0 30 2 * * *'

@description('Six-field NCRONTAB: nightly employee load.')
param employeesSchedule string = '0 0 3 * * *'

@description('Six-field NCRONTAB: BC webhook subscriptions checked, renewed and recreated.')
param subscriptionsSchedule string = '0 0 */12 * * *'

@description('Six-field NCRONTAB: polling of purchase orders (commitments) and of anything without a live webhook subscription.')
param pollSchedule string = '0 5 * * * *'

@description('Six-field NCRONTAB: approval watch (only acts when writebackWatchEnabled is true).')
param writebackWatchSchedule string = '0 */15 * * * *'

@description('true: write back plan versions approved in Anaplan automatically.')
@allowed([
  'true'
  'false'
])
param writebackWatchEnabled string = 'false'

@description('Run states that post a message to the ops webhook (secret ops-webhook-url), comma-separated; none = no messages.')
param notifyOn string = 'failed,partially_succeeded'

@description('Age in days after which run history, audit rows, staged files and superseded snapshots are purged (0-3650).')
@minValue(0)
@maxValue(3650)
param retentionDays int = 90

@description('Six-field NCRONTAB: retention purge.')
param retentionSchedule string = '0 0 4 * * *'

@description('Level of the connector loggers.')
@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

// ------------------------------------------------------------------------------------------------
// Platform options
// ------------------------------------------------------------------------------------------------

@description('Elastic Premium only: time zone of the timer schedules (tz database name, e.g. Europe/Berlin). Empty = UTC. Flex Consumption does not support it.')
param timeZone string = ''

@description('Timer functions to switch off (AzureWebJobs.<name>.Disabled). Kept here because a deployment replaces all app settings.')
@allowed([
  'nightly_reference_sync'
  'nightly_actuals_load'
  'nightly_employees_load'
  'approval_watch_timer'
  'subscription_renewal'
  'change_poll'
  'retention_timer'
])
param disabledFunctions array = []

// ------------------------------------------------------------------------------------------------
// Names
// ------------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, namePrefix))
var shortToken = take(token, 6)
var storageAccountName = take('st${replace(toLower(namePrefix), '-', '')}${token}', 24)
var keyVaultName = 'kv-${namePrefix}-${shortToken}'
var functionAppName = 'func-${namePrefix}-${shortToken}'
var planName = 'plan-${namePrefix}-${shortToken}'
var logAnalyticsName = 'log-${namePrefix}-${shortToken}'
var appInsightsName = 'appi-${namePrefix}-${shortToken}'
var packageContainerName = 'app-package'
var isFlex = planType == 'FlexConsumption'

// ------------------------------------------------------------------------------------------------
// Resources
// ------------------------------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: '${deployment().name}-monitoring'
  params: {
    location: location
    logAnalyticsName: logAnalyticsName
    appInsightsName: appInsightsName
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: '${deployment().name}-storage'
  params: {
    location: location
    storageAccountName: storageAccountName
    skuName: storageSku
    packageContainerName: packageContainerName
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: '${deployment().name}-keyvault'
  params: {
    location: location
    keyVaultName: keyVaultName
    createSecretPlaceholders: createSecretPlaceholders
    enablePurgeProtection: keyVaultPurgeProtection
    tags: tags
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? {
    name: 'FC1'
    tier: 'FlexConsumption'
  } : {
    name: premiumSku
    tier: 'ElasticPremium'
  }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: isFlex ? null : premiumMaximumElasticWorkerCount
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Flex Consumption rejects linuxFxVersion (the runtime lives in functionAppConfig) and has
    // no FTP endpoint; Elastic Premium declares the stack here and switches FTP off.
    siteConfig: isFlex ? {
      minTlsVersion: '1.2'
    } : {
      linuxFxVersion: 'Python|3.11'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.outputs.blobEndpoint}${packageContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: flexMaximumInstanceCount
        instanceMemoryMB: flexInstanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    } : null
  }
}

// No basic-auth (publishing profile) deployments: publish with Microsoft Entra credentials.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

module roles 'modules/roles.bicep' = {
  name: '${deployment().name}-roles'
  params: {
    appPrincipalId: site.identity.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

// ------------------------------------------------------------------------------------------------
// App settings: exactly the settings the app reads (connectorSettings: bc_anaplan/config.py
// SETTINGS, and the %X% settings host.json and the function bindings name, such as the timer
// schedules) plus the platform settings the Functions runtime needs (the other *Settings
// variables). A deployment
// REPLACES all app settings: change them here (or in parameters), not in the portal.
//
// Secrets are not app settings. KEY_VAULT_URL points the code at the vault and the code reads
// the secrets itself with the app identity (cached for SECRET_CACHE_TTL_SECONDS), so there are no
// @Microsoft.KeyVault(...) references and no BC_CLIENT_SECRET / ANAPLAN_PASSWORD settings.
//
// Not set on purpose: AzureWebJobsStorage (a connection string carries the account key; the
// identity-based AzureWebJobsStorage__accountName replaces it), and AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST (a service principal for Key Vault
// where no managed identity exists; in Azure the app's system-assigned identity reads the vault,
// and a client secret in app settings is exactly what Key Vault is there to avoid).
// ------------------------------------------------------------------------------------------------

var defaultPublicUrl = 'https://${site.properties.defaultHostName}'

var connectorSettings = {
  BC_TENANT_ID: bcTenantId
  BC_ENVIRONMENT: bcEnvironment
  BC_CLIENT_ID: bcClientId
  BC_COMPANY_ID: bcCompanyId
  BC_API_BASE_URL: bcApiBaseUrl
  ENTRA_AUTHORITY_HOST: entraAuthorityHost
  BC_RATE_LIMIT_PER_MINUTE: '600'
  ANAPLAN_AUTH_URL: anaplanAuthUrl
  ANAPLAN_API_URL: anaplanApiUrl
  ANAPLAN_WORKSPACE_ID: anaplanWorkspaceId
  ANAPLAN_MODEL_ID: anaplanModelId
  ANAPLAN_AUTH_MODE: anaplanAuthMode
  ANAPLAN_USER: anaplanUser
  ANAPLAN_CERT_FORMAT: anaplanCertFormat
  ANAPLAN_RATE_LIMIT_PER_MINUTE: '600'
  ANAPLAN_POLL_SECONDS: '5'
  ANAPLAN_UPLOAD_CHUNK_MB: '10'
  KEY_VAULT_URL: keyVault.outputs.vaultUri
  SECRET_CACHE_TTL_SECONDS: '300'
  CONNECTOR_CA_BUNDLE: '' // only for the local sandbox's CA
  HTTP_CONNECT_TIMEOUT_SECONDS: '10'
  HTTP_READ_TIMEOUT_SECONDS: '120'
  HTTP_MAX_ATTEMPTS: '6'
  HTTP_BACKOFF_BASE_SECONDS: '1'
  HTTP_BACKOFF_CAP_SECONDS: '60'
  HTTP_MAX_RETRY_AFTER_SECONDS: '300'
  PUBLIC_BASE_URL: empty(publicBaseUrl) ? defaultPublicUrl : publicBaseUrl
  AzureWebJobsStorage__accountName: storage.outputs.name
  TASK_HUB_NAME: taskHubName
  REFERENCE_SYNC_SCHEDULE: referenceSyncSchedule
  ACTUALS_SCHEDULE: actualsSchedule
  EMPLOYEES_SCHEDULE: employeesSchedule
  SUBSCRIPTIONS_SCHEDULE: subscriptionsSchedule
  POLL_SCHEDULE: pollSchedule
  POLL_LAG_SECONDS: '300'
  WRITEBACK_WATCH_SCHEDULE: writebackWatchSchedule
  WRITEBACK_WATCH_ENABLED: writebackWatchEnabled
  NOTIFY_ON: notifyOn
  RETENTION_DAYS: string(retentionDays)
  RETENTION_SCHEDULE: retentionSchedule
  CONNECTOR_CONFIG_PATH: 'connector.toml'
  LOG_LEVEL: logLevel
}

// Every plan.
var platformSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
}

// Elastic Premium only (Flex Consumption takes the runtime from functionAppConfig and rejects
// these). No Azure Files content share: WEBSITE_CONTENTAZUREFILECONNECTIONSTRING would need the
// account key, so the app runs from a package blob it reads with its identity.
var premiumSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'python'
  WEBSITE_RUN_FROM_PACKAGE: '${storage.outputs.blobEndpoint}${packageContainerName}/${packageBlobName}'
}

// Elastic Premium only, and only when a time zone is given.
var timeZoneSettings = !isFlex && !empty(timeZone) ? {
  WEBSITE_TIME_ZONE: timeZone
} : {}

// AzureWebJobs.<function>.Disabled = true for each switched-off timer.
var disabledFunctionSettings = toObject(disabledFunctions, fn => 'AzureWebJobs.${fn}.Disabled', fn => 'true')

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(connectorSettings, platformSettings, isFlex ? {} : premiumSettings, timeZoneSettings, disabledFunctionSettings)
}

// ------------------------------------------------------------------------------------------------
// Outputs
// ------------------------------------------------------------------------------------------------

output functionAppName string = site.name
output defaultHostName string = site.properties.defaultHostName
output publicBaseUrl string = connectorSettings.PUBLIC_BASE_URL
output notificationUrl string = '${connectorSettings.PUBLIC_BASE_URL}/api/bc/notifications'
output principalId string = site.identity.principalId
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.vaultUri
output storageAccountName string = storage.outputs.name
output packageContainerName string = packageContainerName
output packageUrl string = isFlex ? '' : premiumSettings.WEBSITE_RUN_FROM_PACKAGE
