// Role assignments, data plane only.
//
// The app's system-assigned identity gets exactly what identity-based AzureWebJobsStorage with
// Durable Functions (Azure Storage provider) and the connector's own tables and blobs need, and
// read access to secret values in the vault, nothing else:
//   storage account: Storage Blob Data Owner, Storage Queue Data Contributor,
//                    Storage Table Data Contributor
//   key vault:       Key Vault Secrets User (read secret values; cannot list, set or delete)
//
// Optionally one operator principal (a user or, better, a group) gets what running the connector
// takes without touching the portal's access settings:
//   key vault:       Key Vault Secrets Officer (set the secret values, rotate them)
//   storage account: Storage Blob Data Contributor (upload the app package on Elastic Premium,
//                    read staged files) and Storage Table Data Reader (read run records and the
//                    audit trail)

@description('Principal (object) id of the Function App system-assigned identity.')
param appPrincipalId string

@description('Name of the storage account of AzureWebJobsStorage.')
param storageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Optional: object id of the operator user or group; empty = no operator roles.')
param operatorPrincipalId string = ''

@description('Kind of the operator principal.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'Group'

// Built-in role definition ids (identical in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageTableDataReader = '76199698-9eea-4c19-bc75-cec21354c6b6'

var appStorageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]
var operatorStorageRoles = [
  storageBlobDataContributor
  storageTableDataReader
]
var hasOperator = !empty(operatorPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in appStorageRoles: {
  name: guid(storage.id, appPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource appSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(vault.id, operatorPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in (hasOperator ? operatorStorageRoles : []): {
  name: guid(storage.id, operatorPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}]
