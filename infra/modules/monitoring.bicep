// Log Analytics workspace and a workspace-based Application Insights component.
// The Functions host sends its telemetry (requests, traces, exceptions, Durable Task events) to
// Application Insights through APPLICATIONINSIGHTS_CONNECTION_STRING; the connector's own loggers
// go through the same host pipeline.

@description('Azure region of the resources.')
param location string

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('How many days the workspace keeps logs.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Tags for every resource.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
  }
}

output appInsightsName string = appInsights.name
// Not a credential: it identifies where telemetry goes (ingestion endpoint and component id).
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output workspaceId string = workspace.id
