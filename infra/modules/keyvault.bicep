// Key Vault with Azure RBAC (no access policies) holding the connector's secrets.
//
// The connector reads its secrets itself (bc_anaplan/secrets.py, SecretClient with the app's
// managed identity) from the vault named by KEY_VAULT_URL, so no secret value ever appears in an
// app setting, a parameter or this template.
//
// Placeholders: ARM has no "create if missing" for a secret; every deployment of a secret resource
// writes a NEW VERSION, which would replace the value an operator has set. So the placeholders are
// created only when createSecretPlaceholders is true, which the README says to pass on the FIRST
// deployment only. They are created DISABLED: until the operator sets a real value (a new, enabled
// version), reading the secret fails with a clear error that names it, instead of the connector
// logging in with a dummy value (repeated failed logins can lock the Anaplan integration user).

@description('Azure region of the vault.')
param location string

@description('Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Create every secret as a disabled placeholder. FIRST deployment only: a redeploy with true writes a new, disabled version over the value the operator set.')
param createSecretPlaceholders bool = false

@description('Purge protection (recommended; cannot be switched off again once on).')
param enablePurgeProtection bool = true

@description('Tags for every resource.')
param tags object = {}

// Exactly the Key Vault names of bc_anaplan.secrets.SECRETS (vault_name); tests/infra checks it.
var secretNames = [
  'bc-client-secret'
  'anaplan-password'
  'anaplan-certificate'
  'anaplan-private-key'
  'bc-webhook-client-state'
  'ops-webhook-url'
]

// Deliberately not a secret and not usable as one: the version is disabled anyway.
var placeholderValue = 'placeholder, set the real value with az keyvault secret set'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // true, or left unset: the service refuses an explicit false once it was on
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource placeholders 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secretName in (createSecretPlaceholders ? secretNames : []): {
  parent: vault
  name: secretName
  properties: {
    value: placeholderValue
    contentType: 'placeholder'
    attributes: {
      enabled: false
    }
  }
}]

output name string = vault.name
output id string = vault.id
// e.g. https://<vault>.vault.azure.net/ (the code strips the trailing slash)
output vaultUri string = vault.properties.vaultUri
