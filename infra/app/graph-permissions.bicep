// Microsoft Graph application permissions (app roles) for the function app's identity, each only
// when a feature needs it, at the least privilege Graph's API reference names for the call.
// Needs the Microsoft Graph Bicep extension (alias in ../bicepconfig.json; Bicep 0.36.1 or later)
// and a deployer who may grant app roles (Privileged Role Administrator or Global Administrator):
// see docs/deployment.md, which lists the same permissions (the contract check compares them).
extension microsoftGraphV1

@description('Object id of the managed identity\'s service principal.')
param principalId string

@description('Make the grants. false: compute the permission list only, with no Microsoft.Graph resource in the deployment (no Graph call, no Graph right needed); main.bicep deploys the module that way for GRAPH_PERMISSIONS and again, with true, only when grantGraphPermissions is on.')
param assign bool = true

@description('POST /servicePrincipals/{id}/appRoleAssignedTo (app roles in access profiles): AppRoleAssignment.ReadWrite.All with Application.Read.All. Its holder can grant itself any Graph permission, so it is off unless the deployment uses app roles.')
param grantAppRoleAssignment bool = false

@description('DELETE /users/{id} (expired guests, leavers): User.DeleteRestore.All, the least-privileged application permission for it.')
param grantDeletePermission bool = false

@description('PATCH /users/{id} accountEnabled (disabling expired guests and leavers, enabling returning guests): User.EnableDisableAccount.All (with User.Read.All, always granted).')
param grantDisablePermission bool = false

@description('PATCH /users/{id} employeeLeaveDateTime (HR\'s end date on the guest, SET_EMPLOYEE_LEAVE_DATE): User-LifeCycleInfo.ReadWrite.All (with User.Read.All, always granted); no higher permission allows it.')
param grantLifecycleWrite bool = false

@description('POST /users/{id}/sponsors/$ref (sponsors for existing users): User.ReadWrite.All, the least privileged for it. Not set by main.bicep until the code has a sponsors opt-in.')
param grantSponsorWrite bool = false

// GroupMember.ReadWrite.All also removes leavers and movers from the groups this app added
// them to; User.RevokeSessions.All revokes a leaver's sessions.

@description('PATCH /users/{id} profile properties (companyName, department, jobTitle... from GUEST_PROFILE_FIELDS): User.ReadWrite.All, the least privileged for them in Microsoft\'s permissions table. Off unless GUEST_PROFILE_FIELDS names a field.')
param grantProfileWrite bool = false

@description('GET /groups/{id} (DETECT_DYNAMIC_GROUPS: the app reads the allow-listed groups once per process to refuse the dynamic ones by name): GroupMember.Read.All, the least privileged for it.')
param grantGroupRead bool = false

var basePermissions = [
  'User.Invite.All'
  'User.Read.All'
  'GroupMember.ReadWrite.All'
  'User.RevokeSessions.All'
]
var appRolePermissions = [
  'AppRoleAssignment.ReadWrite.All'
  'Application.Read.All'
]
var deletePermissions = [
  'User.DeleteRestore.All'
]
var disablePermissions = [
  'User.EnableDisableAccount.All'
]
// Sponsors for existing users and guests' profiles both need it: granted once for either.
var userWritePermissions = [
  'User.ReadWrite.All'
]
var lifecyclePermissions = [
  'User-LifeCycleInfo.ReadWrite.All'
]
var groupReadPermissions = [
  'GroupMember.Read.All'
]
var permissions = concat(
  basePermissions,
  grantAppRoleAssignment ? appRolePermissions : [],
  grantDeletePermission ? deletePermissions : [],
  grantDisablePermission ? disablePermissions : [],
  (grantSponsorWrite || grantProfileWrite) ? userWritePermissions : [],
  grantLifecycleWrite ? lifecyclePermissions : [],
  grantGroupRead ? groupReadPermissions : []
)

// Microsoft Graph's service principal has the same well-known appId in every tenant. Conditional:
// an `existing` Graph resource is read at deployment time, which needs a Graph right.
resource graphSp 'Microsoft.Graph/servicePrincipals@v1.0' existing = if (assign) {
  appId: '00000003-0000-0000-c000-000000000000'
}

// (No `if` inside the loop: the offline checks' Bicep parser does not read `[for x in y: if (c)`.)
resource appRoleGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for permission in (assign ? permissions : []): {
  #disable-next-line BCP318
  appRoleId: filter(graphSp.appRoles, role => (role.value == permission))[0].id
  principalId: principalId
  #disable-next-line BCP318
  resourceId: graphSp.id
}]

output permissions array = permissions
