// Data-plane roles on one queue (not the account) for one principal. Queues exist before this runs
// (storage.bicep creates them), so the scope is an `existing` queue.
param storageAccountName string
param queueName string
param principalId string
@description('ServicePrincipal, User or Group; empty lets ARM find out (the deploying user, whose type azd does not pass).')
@allowed([
  ''
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string = ''
@description('Built-in role definition ids (the `roles` table in rbac.bicep).')
param roleDefinitionIds array

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: queueName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleDefinitionIds: {
  name: guid(queue.id, principalId, roleId)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
  }
}]
