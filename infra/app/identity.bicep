// The function app's user-assigned identity: it reads/writes Storage (RBAC, rbac.bicep), sends
// telemetry (Monitoring Metrics Publisher) and calls Microsoft Graph (graph-permissions.bicep).
param name string
param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output resourceId string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
output name string = identity.name
