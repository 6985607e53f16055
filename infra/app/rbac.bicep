// Azure role assignments, each at the narrowest scope that works:
// - the function app's identity: Storage Blob Data Owner on the account (the Functions host keeps
//   leases, timer schedule state and keys in blob containers it creates, and Flex Consumption pulls
//   the package from the deployment container; the Flex Consumption quickstart samples grant the
//   same for identity-based AzureWebJobsStorage), Reader + Message Processor on each queue a
//   function is triggered by, Message Sender on each queue the app writes to (the assignments and
//   invitations queues and every <queue>-poison), Table Data Contributor on the ledger table and
//   the shared Graph budget table only, and Monitoring Metrics Publisher on Application Insights;
// - an HR system (optional): Message Sender on the invitations queue, nothing else;
// - the deploying user (optional, default on): Message Sender on the invitations queue and Table
//   Data Reader on the ledger, to submit and inspect right after `azd up`.
// The app never creates queues or tables (storage.bicep does), so it holds no account-wide queue
// or table role. The Functions host moves a message to '<queue>-poison' by sending to it and creates
// that queue only when it does not exist (Microsoft.Azure.WebJobs.Extensions.Storage.Queues,
// StorageQueueExtensions.AddMessageAndCreateIfNotExistsAsync): Message Sender is enough.
// Assignment names are deterministic guid()s, so redeploying is idempotent.
param storageAccountName string
param applicationInsightsName string
param identityPrincipalId string

@description('Queues functions are triggered by.')
param triggerQueueNames array

@description('Queues the app (and the Functions host) writes to, poison queues included.')
param writtenQueueNames array

@description('Tables the app reads and writes: the guest ledger and the shared Graph budget.')
param appTableNames array

param invitationsQueueName string
param guestLedgerTableName string

param hrSenderPrincipalId string = ''
@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param hrSenderPrincipalType string = 'ServicePrincipal'

@description('Object id of the deploying principal (azd passes it); empty: no grant.')
param deployerPrincipalId string = ''

// Built-in role definition ids, keyed by their exact built-in role name (stable across tenants;
// Microsoft's "Azure built-in roles" reference). infra/checks/roles.py checks every pair.
var roles = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  'Storage Queue Data Reader': '19e7f393-937e-4f77-808e-94535e297925'
  'Storage Queue Data Message Processor': '8a0f0c08-91a1-4084-bc3d-661d67233fed'
  'Storage Queue Data Message Sender': 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  'Storage Table Data Reader': '76199698-9eea-4c19-bc75-cec21354c6b6'
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host leases, timer schedule state, keys and the Flex deployment package.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles['Storage Blob Data Owner'])
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles['Storage Blob Data Owner'])
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Entra-authenticated telemetry ingestion (Application Insights has local auth disabled).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, roles['Monitoring Metrics Publisher'])
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles['Monitoring Metrics Publisher'])
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Queue triggers: read and process (receive, update visibility, delete) on the queues they watch.
module triggerQueueRoles 'queue-roles.bicep' = [for queueName in triggerQueueNames: {
  name: 'rbac-trigger-${uniqueString(queueName)}'
  params: {
    storageAccountName: storageAccountName
    queueName: queueName
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles['Storage Queue Data Reader']
      roles['Storage Queue Data Message Processor']
    ]
  }
}]

// Fan-out to assignments, reminders and re-queues on invitations, and every <queue>-poison.
module writtenQueueRoles 'queue-roles.bicep' = [for queueName in writtenQueueNames: {
  name: 'rbac-write-${uniqueString(queueName)}'
  params: {
    storageAccountName: storageAccountName
    queueName: queueName
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles['Storage Queue Data Message Sender']
    ]
  }
}]

// The guest ledger and the shared Graph budget: entities only, on those tables only.
module appTableRoles 'table-roles.bicep' = [for tableName in appTableNames: {
  name: 'rbac-table-${uniqueString(tableName)}'
  params: {
    storageAccountName: storageAccountName
    tableName: tableName
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionIds: [
      roles['Storage Table Data Contributor']
    ]
  }
}]

// An HR system may only add messages to the invitations queue: not read, not delete, no other queue.
module hrSender 'queue-roles.bicep' = if (!empty(hrSenderPrincipalId)) {
  name: 'rbac-hr-sender'
  params: {
    storageAccountName: storageAccountName
    queueName: invitationsQueueName
    principalId: hrSenderPrincipalId
    principalType: hrSenderPrincipalType
    roleDefinitionIds: [
      roles['Storage Queue Data Message Sender']
    ]
  }
}

// The deploying user: submit invitations and read the ledger with their own identity.
module deployerSender 'queue-roles.bicep' = if (!empty(deployerPrincipalId)) {
  name: 'rbac-deployer-sender'
  params: {
    storageAccountName: storageAccountName
    queueName: invitationsQueueName
    principalId: deployerPrincipalId
    roleDefinitionIds: [
      roles['Storage Queue Data Message Sender']
    ]
  }
}

module deployerLedgerReader 'table-roles.bicep' = if (!empty(deployerPrincipalId)) {
  name: 'rbac-deployer-ledger'
  params: {
    storageAccountName: storageAccountName
    tableName: guestLedgerTableName
    principalId: deployerPrincipalId
    roleDefinitionIds: [
      roles['Storage Table Data Reader']
    ]
  }
}
