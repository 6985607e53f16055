// Microsoft Graph application permissions (app roles) for the function app's identity.
// Needs the Microsoft Graph Bicep extension (alias in ../bicepconfig.json) and a deployer who may
// grant app roles (Privileged Role Administrator or Global Administrator): see docs/deployment.md.
extension microsoftGraphV1

@description('Object id of the managed identity\'s service principal.')
param principalId string

@description('Grant User.ReadWrite.All, which DELETE_EXPIRED_GUESTS needs to delete expired guests.')
param deleteExpiredGuests bool = false

// Keep in step with docs/deployment.md and tests/infra (a test compares all three).
var basePermissions = [
  'User.Invite.All'
  'User.Read.All'
  'GroupMember.ReadWrite.All'
  'AppRoleAssignment.ReadWrite.All'
  'Application.Read.All'
]
var permissions = concat(basePermissions, deleteExpiredGuests ? ['User.ReadWrite.All'] : [])

// Microsoft Graph's service principal has the same well-known appId in every tenant.
resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

resource appRoleGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for permission in permissions: {
  appRoleId: filter(graphSp.appRoles, role => (role.value == permission))[0].id
  principalId: principalId
  resourceId: graphSp.id
}]

output permissions array = permissions
