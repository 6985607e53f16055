// Storage for the Functions host (AzureWebJobsStorage, identity-based), the deployment package,
// the two work queues with their poison queues, the guest ledger table and the shared Graph budget
// table.
// Shared keys are disabled: every caller authenticates with Entra ID and RBAC (rbac.bicep).
param name string
param location string = resourceGroup().location
param tags object = {}
param skuName string = 'Standard_LRS'
param deploymentContainerName string
param invitationsQueueName string
param assignmentsQueueName string
param guestLedgerTableName string
param graphBudgetTableName string

@description('Enabled, or Disabled in the private network (private endpoints only: app/network.bicep).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Log Analytics workspace that keeps the queue audit log.')
param logAnalyticsWorkspaceId string

// The Functions host moves a message to '<queue>-poison' after maxDequeueCount failures, and the
// functions move rejected input there at once: both must exist before anything is sent.
var queueNames = [
  invitationsQueueName
  '${invitationsQueueName}-poison'
  assignmentsQueueName
  '${assignmentsQueueName}-poison'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Public access is the publicNetworkAccess parameter: Disabled with default-deny ACLs in the private network (vnetEnabled), Enabled otherwise for the app and HR systems; shared keys are off, so every request needs an Entra token and an RBAC role.
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: public network access follows vnetEnabled; authentication is Entra-only either way.
  // checkov:skip=CKV_AZURE_206:Replication is the storageSkuName parameter (default LRS); queues and the ledger are rebuilt from HR messages and the directory, so geo-redundancy is the operator's choice.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    dnsEndpointType: 'Standard'
    networkAcls: {
      defaultAction: (publicNetworkAccess == 'Enabled') ? 'Allow' : 'Deny'
      bypass: (publicNetworkAccess == 'Enabled') ? 'AzureServices' : 'None'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Audit: every write and delete on the queues (who enqueued, received or deleted which message,
// with the caller's Entra object id) goes to Log Analytics (StorageQueueLogs), kept for the
// workspace's retention.
resource queueAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-audit'
  scope: queueService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Audit, as for the queues: every write and delete on the tables (ledger rows written, budget
// rows updated, with the caller's Entra object id) goes to Log Analytics (StorageTableLogs).
resource tableAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-audit'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: guestLedgerTableName
}

// One row per Graph bucket (writes, reads, invitations) that every instance paces against.
resource budgetTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: graphBudgetTableName
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output queueNames array = queueNames
