// Data-plane roles on one table (not the account) for one principal. The table exists before this
// runs (storage.bicep creates it), so the scope is an `existing` table.
param storageAccountName string
param tableName string
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

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource table 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: tableName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleDefinitionIds: {
  name: guid(table.id, principalId, roleId)
  scope: table
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: empty(principalType) ? null : principalType
  }
}]
