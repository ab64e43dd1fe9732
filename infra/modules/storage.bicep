// The storage account of AzureWebJobsStorage: the Functions host (keys, timer leases), the
// Durable Functions task hub (queues, tables, lease blobs) and the connector's own state
// (tables <hub>Runs, <hub>Audit, <hub>Cursors, <hub>Mappings, <hub>Writebacks; containers
// <hub>-state and <hub>-staging, created by the code on first use). Plus one private container
// for the deployment package.
//
// Shared-key access is switched off: everything, the app included, authenticates with Microsoft
// Entra ID (the app through its system-assigned identity), so no account key exists in any
// setting and a leaked connection string would be useless.

@description('Azure region of the account.')
param location string

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Redundancy of the account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

@description('Private blob container for the app package (Flex deployment storage, or the Elastic Premium run-from-package blob).')
param packageContainerName string

@description('Tags for every resource.')
param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainerName
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output id string = storage.id
// Ends with a slash, e.g. https://<account>.blob.core.windows.net/
output blobEndpoint string = storage.properties.primaryEndpoints.blob
