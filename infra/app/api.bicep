// The function app on Flex Consumption: Python 3.11, user-assigned identity for everything
// (deployment package, AzureWebJobsStorage, Application Insights, Microsoft Graph).
param name string
param planName string
param location string = resourceGroup().location
param tags object = {}
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40
@description('Subnet for VNet integration (delegated to Microsoft.App/environments); empty: none.')
param virtualNetworkSubnetId string = ''
@description('The settings the code reads (built in main.bicep from its parameters).')
param appSettings object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption exists only in some regions and multiplies the instance floor; queue messages outlive a lost instance and are retried, so it is left to the operator.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Inbound public access stays on because `azd deploy` publishes through the app's SCM endpoint; the app has no HTTP functions, only queue and timer triggers.
  // checkov:skip=CKV_AZURE_17:No HTTP functions, so there are no callers to present client certificates.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per trigger; queue messages wait and are retried, so always-ready failover instances would only add cost.
  // checkov:skip=CKV_AZURE_213:No HTTP endpoint to probe; the platform scales on queue length and the timer, and failures surface in Application Insights.
  // checkov:skip=CKV_AZURE_78:Flex Consumption does not support siteConfig.ftpsState (Microsoft's Flex Consumption plan deprecations table; newer regions reject it at deployment); deployment goes through the SCM endpoint with Entra ID, never FTP.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App settings: a separate `config/appsettings` resource (key/value pairs only). checkov applies its
// `config/web` (site configuration) checks to every Microsoft.Web/sites/config resource; none of
// those properties can exist on appsettings, hence the skips below.
//
// AzureWebJobsFeatureFlags=DisableDiagnosticEventLogging: the host writes its diagnostic events
// (the AZFD codes of the portal) to a table it creates each month in AzureWebJobsStorage,
// AzureFunctionsDiagnosticEvents plus yyyyMM, and purges old ones
// (DiagnosticEventTableStorageRepository, Azure/azure-functions-host). That needs table create
// and delete on the whole account, which the identity does not get: it could delete the ledger
// table. Without the role the host fails every 10 minutes with 403
// AuthorizationPermissionMismatch, shown as AZFD0003. The same events still reach Application
// Insights as log entries. See docs/deployment.md, Alerts and audit.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:Not the web config: authentication is a site setting, and there are no HTTP functions.
  // checkov:skip=CKV_AZURE_63:Not the web config: HTTP logging is a site setting; no HTTP functions.
  // checkov:skip=CKV_AZURE_65:Not the web config: detailed error pages are a site setting; no HTTP functions.
  // checkov:skip=CKV_AZURE_66:Not the web config: failed request tracing is a site setting; no HTTP functions.
  // checkov:skip=CKV_AZURE_80:Not the web config, and a Python app: .NET Framework version does not apply.
  // checkov:skip=CKV_AZURE_88:Not the web config: Flex Consumption has no Azure Files content share.
  // checkov:skip=CKV_AZURE_222:Not the web config: public network access is a site property (skipped there with its reason).
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, {
    // Identity-based host storage: no connection string, no shared key.
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // DefaultAzureCredential (Graph) picks the user-assigned identity from this.
    AZURE_CLIENT_ID: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // The host's diagnostic-events table: off (see above).
    AzureWebJobsFeatureFlags: 'DisableDiagnosticEventLogging'
  })
}

// Basic (user name and password) publishing credentials off for both endpoints: `azd deploy`
// publishes with Entra ID, so nothing needs them, and with them on anyone holding the site's
// publishing profile could deploy code or read files over FTP.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
