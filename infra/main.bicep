// Entra ID guest onboarding: Azure Functions (Flex Consumption) + Storage queues/table + Graph app roles.
// Deployed by `azd up`; see docs/deployment.md. Every app setting the code reads is set here from a
// parameter whose default is the code's default (tests/infra checks both).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used for the resource group name and a unique resource token.')
param environmentName string

@minLength(1)
@description('Azure region for all resources (must offer Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

// ---- Hosting -------------------------------------------------------------------------------

@description('Memory per Flex Consumption instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances per function group. Flex Consumption scales each queue- or timer-triggered function in its own group (per-function scaling), so invite_fn and assign_fn can each reach this count: up to twice as many instances may call Graph at once. A cost and concurrency bound, not an app-wide cap on Graph writers.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Storage account redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---- Network ----------------------------------------------------------------------------------

@description('Private network: storage reachable only through private endpoints in a new virtual network, the function app integrated with it, storage public network access off (as Microsoft\'s Flex Consumption samples do). HR systems and the deploying user then need a route into the network to reach the queue.')
param vnetEnabled bool = false

// ---- Alerts ---------------------------------------------------------------------------------

@description('Email address for the alerts (poisoned messages, tenant-wide Graph refusal); empty: the alerts show in the portal only.')
param alertEmail string = ''

// ---- Access for an HR system ----------------------------------------------------------------

@description('Optional object id of the HR system principal; it gets Storage Queue Data Message Sender on the invitations queue only.')
param hrSenderPrincipalId string = ''

@description('Principal type of hrSenderPrincipalId.')
@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param hrSenderPrincipalType string = 'ServicePrincipal'

// ---- Microsoft Graph ------------------------------------------------------------------------

@description('Grant AppRoleAssignment.ReadWrite.All and Application.Read.All, which app role assignments (appRoles in ACCESS_PROFILES or ALLOWED_APP_ROLES) need. Off by default: the holder of AppRoleAssignment.ReadWrite.All can grant itself any Graph permission.')
param appRoleAssignmentsEnabled bool = false

@description('Make the Microsoft Graph grants (app role assignments to the identity) in this deployment; the deploying principal then needs Privileged Role Administrator. false (the CI workflow): the deployment contains no Microsoft.Graph resource and needs no Graph right, and a Privileged Role Administrator grants GRAPH_PERMISSIONS once with `python -m infra.hooks.graph_grants --grant` (docs/deployment.md, "Deploying from GitHub Actions").')
param grantGraphPermissions bool = true

// ---- Access for the deploying user ------------------------------------------------------------

@description('Object id of the principal running azd (azd substitutes AZURE_PRINCIPAL_ID itself).')
param deployerPrincipalId string = ''

@description('Give the deploying principal Storage Queue Data Message Sender on the invitations queue and Storage Table Data Reader on the ledger, to submit and inspect with their own identity right after azd up. On by default for dev environments; turn off (GRANT_DEPLOYER_ACCESS=false) for shared or production ones and in CI.')
param grantDeployerAccess bool = true

// ---- App settings (defaults = guest_onboarding/config.py SETTING_DEFAULTS) -------------------

@description('GRAPH_BASE_URL: Microsoft Graph endpoint.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('INVITATIONS_QUEUE: queue HR systems write invitations to.')
@minLength(3)
@maxLength(56)
param invitationsQueueName string = 'guest-invitations'

@description('ASSIGNMENTS_QUEUE: queue of group / app role assignment steps.')
@minLength(3)
@maxLength(56)
param assignmentsQueueName string = 'guest-assignments'

@description('INVITE_REDIRECT_URL: default redirect after redemption.')
param inviteRedirectUrl string = 'https://myapps.microsoft.com'

@description('ALLOWED_REDIRECT_PREFIXES: comma-separated; empty means the default redirect only.')
param allowedRedirectPrefixes string = ''

@description('ALLOWED_EMAIL_DOMAINS: comma-separated; empty means any domain.')
param allowedEmailDomains string = ''

@description('BLOCKED_EMAIL_DOMAINS: comma-separated.')
param blockedEmailDomains string = ''

@description('ACCESS_PROFILES: {"name": {"groups": [...], "appRoles": [{"resourceId", "appRoleId"}]}}. An object, not a string: azd pastes environment values into main.parameters.json unescaped, so JSON must arrive as JSON.')
param accessProfiles object = {}

@description('ALLOWED_GROUP_IDS: comma-separated extra group object ids.')
param allowedGroupIds string = ''

@description('ALLOWED_APP_ROLES: comma-separated extra resourceId:appRoleId pairs.')
param allowedAppRoles string = ''

@description('RESEND_SCHEDULE: six-field NCRONTAB for the reminder sweep.')
param resendSchedule string = '0 0 8 * * *'

@description('REMINDER_DAYS: days after the first invitation on which reminders go out.')
param reminderDays string = '3,7,14'

@description('PENDING_EXPIRY_DAYS: after this a pending guest is marked expired (0: never).')
@minValue(0)
param pendingExpiryDays int = 30

@description('DELETE_EXPIRED_GUESTS: the older switch for EXPIRED_GUEST_ACTION=delete; also grants Graph User.DeleteRestore.All.')
param deleteExpiredGuests bool = false

@description('EXPIRED_GUEST_ACTION: what happens to a guest whose invitation expired. disable grants User.EnableDisableAccount.All, delete User.DeleteRestore.All, disable-then-delete both.')
@allowed([
  'none'
  'disable'
  'disable-then-delete'
  'delete'
])
param expiredGuestAction string = 'none'

@description('DELETE_GRACE_DAYS: days between disabling and deleting (disable-then-delete).')
@minValue(0)
param deleteGraceDays int = 30

@description('SPONSOR_CC_FROM_REMINDER: from this reminder on, the first sponsor is copied (0: never).')
@minValue(0)
param sponsorCcFromReminder int = 2

@description('ADD_SPONSORS_TO_EXISTING_USERS: add sponsors to users who already existed; grants Graph User.ReadWrite.All, far broader than every other grant. Off by default.')
param addSponsorsToExistingUsers bool = false

@description('GUEST_PROFILE_FIELDS: profile attributes HR messages may set on guests (comma-separated Graph names: companyName, department, jobTitle, employeeType, employeeId, officeLocation, usageLocation, city, country). Any field grants Graph User.ReadWrite.All (PATCH /users/{id}), far broader than every other grant. Empty by default: no profile is written.')
param guestProfileFields string = ''

@description('DETECT_DYNAMIC_GROUPS: read the groups of ACCESS_PROFILES and ALLOWED_GROUP_IDS once per process and refuse messages naming a dynamic group (DynamicGroupNotAssignable) instead of meeting Graph\'s 403 for each guest; grants Graph GroupMember.Read.All (read only). On by default.')
param detectDynamicGroups bool = true
@description('ALLOW_MEMBERS: HR messages may also onboard members of the tenant (groups, app roles, sponsors on employees). Off by default: a member is refused with MemberNotGuest.')
param allowMembers bool = false

@description('TENANT_STOP_PROBE_SECONDS: while Graph refuses invitations for the whole tenant, one invitation is tried this often.')
@minValue(1)
param tenantStopProbeSeconds int = 600

@description('MAX_DELETIONS_PER_RUN: cap on deletions per sweep.')
@minValue(0)
param maxDeletionsPerRun int = 100

@description('RESEND_UNTRACKED: also remind pending guests this system did not invite.')
param resendUntracked bool = false

@description('ALLOWED_CC_DOMAINS: comma-separated domains a ccRecipient may be in (empty: no cc).')
param allowedCcDomains string = ''

@description('LEDGER_RETENTION_DAYS: personal fields of finished ledger rows are cleared after this.')
@minValue(1)
param ledgerRetentionDays int = 365

@description('INVITE_REPLICATION_WAIT_SECONDS: how long a redelivery waits for a possibly invited guest to appear before asking an operator.')
@minValue(1)
param inviteReplicationWaitSeconds int = 600

@description('GUEST_LEDGER_TABLE: Azure Table with one row per invited guest.')
@minLength(3)
@maxLength(63)
param guestLedgerTableName string = 'guestledger'

@description('GRAPH_WRITES_PER_SECOND: starting pace of Graph writes, shared by all instances (Graph documents 3,000 writes per 150 s per app and tenant: 20/s). Pacing backs off on 429 and creeps back up to this, never above.')
@minValue(1)
param graphWritesPerSecond int = 20

@description('GRAPH_READS_PER_SECOND: pace of Graph reads (look-ups, the sweep), shared by all instances.')
@minValue(1)
param graphReadsPerSecond int = 100

@description('INVITATIONS_PER_MINUTE: pace of POST /invitations (reminders included), shared by all instances. Conservative on purpose: Entra blocks a directory\'s invitations on bursts, and only Microsoft support lifts the block (README, "Scaling out").')
@minValue(1)
param invitationsPerMinute int = 1

@description('GRAPH_BUDGET_TABLE: Azure Table holding the Graph budget every instance shares.')
@minLength(3)
@maxLength(63)
param graphBudgetTableName string = 'graphbudget'

@description('GRAPH_BUDGET_SHARED: pace Graph calls on the shared budget table (false: each instance on its own).')
param graphBudgetShared bool = true

@description('OFFBOARD_ACTION: what an offboarding does to the account once this app\'s access is removed and its sessions revoked. remove-access changes nothing more; disable (the default) grants User.EnableDisableAccount.All; delete (disabled at once, deleted by the next sweep) and disable-then-delete (deleted DELETE_GRACE_DAYS later) also grant User.DeleteRestore.All.')
@allowed([
  'remove-access'
  'disable'
  'disable-then-delete'
  'delete'
])
param offboardAction string = 'disable'

@description('OFFBOARD_THRESHOLD: offboardings per hour above which offboarding pauses (the brake) until an operator releases or discards the held ones.')
@minValue(1)
@maxValue(1000)
param offboardThreshold int = 10

@description('ACCESS_MODE: what an onboarding message\'s groups and app roles mean when it does not say (accessMode): add (access to add) or exact (all of it: what this app granted earlier and the message omits is removed).')
@allowed([
  'add'
  'exact'
])
param accessMode string = 'add'

@description('SET_EMPLOYEE_LEAVE_DATE: also write HR\'s accessEndsOn on the guest as employeeLeaveDateTime; grants User-LifeCycleInfo.ReadWrite.All.')
param setEmployeeLeaveDate bool = false

// ---- Names ----------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
// azure.yaml names the service `api`; azd finds the function app by this tag.
var serviceName = 'api'
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

// The code's settings, from the parameters above. Storage, identity and monitoring settings are
// added by app/api.bicep because they come from the resources it is given.
var codeAppSettings = {
  GRAPH_BASE_URL: graphBaseUrl
  INVITATIONS_QUEUE: invitationsQueueName
  ASSIGNMENTS_QUEUE: assignmentsQueueName
  INVITE_REDIRECT_URL: inviteRedirectUrl
  ALLOWED_REDIRECT_PREFIXES: allowedRedirectPrefixes
  ALLOWED_EMAIL_DOMAINS: allowedEmailDomains
  BLOCKED_EMAIL_DOMAINS: blockedEmailDomains
  ACCESS_PROFILES: string(accessProfiles)
  ALLOWED_GROUP_IDS: allowedGroupIds
  ALLOWED_APP_ROLES: allowedAppRoles
  RESEND_SCHEDULE: resendSchedule
  REMINDER_DAYS: reminderDays
  PENDING_EXPIRY_DAYS: string(pendingExpiryDays)
  DELETE_EXPIRED_GUESTS: string(deleteExpiredGuests)
  MAX_DELETIONS_PER_RUN: string(maxDeletionsPerRun)
  RESEND_UNTRACKED: string(resendUntracked)
  GUEST_LEDGER_TABLE: guestLedgerTableName
  ALLOWED_CC_DOMAINS: allowedCcDomains
  LEDGER_RETENTION_DAYS: string(ledgerRetentionDays)
  INVITE_REPLICATION_WAIT_SECONDS: string(inviteReplicationWaitSeconds)
  EXPIRED_GUEST_ACTION: expiredGuestAction
  DELETE_GRACE_DAYS: string(deleteGraceDays)
  SPONSOR_CC_FROM_REMINDER: string(sponsorCcFromReminder)
  ADD_SPONSORS_TO_EXISTING_USERS: string(addSponsorsToExistingUsers)
  ALLOW_MEMBERS: string(allowMembers)
  TENANT_STOP_PROBE_SECONDS: string(tenantStopProbeSeconds)
  GRAPH_WRITES_PER_SECOND: string(graphWritesPerSecond)
  GRAPH_READS_PER_SECOND: string(graphReadsPerSecond)
  INVITATIONS_PER_MINUTE: string(invitationsPerMinute)
  GRAPH_BUDGET_TABLE: graphBudgetTableName
  GRAPH_BUDGET_SHARED: string(graphBudgetShared)
  OFFBOARD_ACTION: offboardAction
  OFFBOARD_THRESHOLD: string(offboardThreshold)
  ACCESS_MODE: accessMode
  SET_EMPLOYEE_LEAVE_DATE: string(setEmployeeLeaveDate)
  GUEST_PROFILE_FIELDS: guestProfileFields
  DETECT_DYNAMIC_GROUPS: string(detectDynamicGroups)
}

// The Graph grants follow exactly what the settings above make the app do.
// (Parenthesised: the offline checks' Bicep parser does not know operator precedence.)
var disablesExpiredGuests = (expiredGuestAction == 'disable') || (expiredGuestAction == 'disable-then-delete')
var deletesExpiredGuests = deleteExpiredGuests || ((expiredGuestAction == 'delete') || (expiredGuestAction == 'disable-then-delete'))
// Leavers: every OFFBOARD_ACTION but remove-access disables first; delete and
// disable-then-delete delete too.
var disablesLeavers = offboardAction != 'remove-access'
var deletesLeavers = (offboardAction == 'delete') || (offboardAction == 'disable-then-delete')
var grantsDisable = disablesExpiredGuests || disablesLeavers
var grantsDelete = deletesExpiredGuests || deletesLeavers
var writesGuestProfiles = !empty(guestProfileFields)

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-func-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    name: 'st${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    invitationsQueueName: invitationsQueueName
    assignmentsQueueName: assignmentsQueueName
    guestLedgerTableName: guestLedgerTableName
    graphBudgetTableName: graphBudgetTableName
  }
}

// Queues by what the app does with them (storage.bicep creates all four; rbac.bicep scopes roles).
var triggerQueueNames = [
  invitationsQueueName
  assignmentsQueueName
]
var poisonQueueNames = [
  '${invitationsQueueName}-poison'
  '${assignmentsQueueName}-poison'
]

module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    vnetName: 'vnet-${resourceToken}'
    storageAccountName: storage.outputs.name
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    actionGroupName: 'ag-${resourceToken}'
    alertEmail: alertEmail
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    triggerQueueNames: triggerQueueNames
    writtenQueueNames: concat(triggerQueueNames, poisonQueueNames)
    appTableNames: [
      guestLedgerTableName
      graphBudgetTableName
    ]
    invitationsQueueName: invitationsQueueName
    guestLedgerTableName: guestLedgerTableName
    hrSenderPrincipalId: hrSenderPrincipalId
    hrSenderPrincipalType: hrSenderPrincipalType
    deployerPrincipalId: grantDeployerAccess ? deployerPrincipalId : ''
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: union(tags, {
      'azd-service-name': serviceName
    })
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    appSettings: codeAppSettings
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
  }
  // The host starts listening on queues as soon as the app exists: grant data access (and, in
  // the private network, the storage endpoints) first.
  dependsOn: [
    rbac
    network
  ]
}

// The Graph permissions these settings need, computed with no Microsoft.Graph resource deployed
// (assign: false): GRAPH_PERMISSIONS is known when the grants are left to an administrator
// (grantGraphPermissions false), and when they fail, this nested deployment's output still names
// them (`python -m infra.hooks.graph_grants --resource-group` reads it).
module graphPermissionList 'app/graph-permissions.bicep' = {
  name: 'graph-permission-list'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    assign: false
    grantAppRoleAssignment: appRoleAssignmentsEnabled
    grantDeletePermission: grantsDelete
    grantDisablePermission: grantsDisable
    grantSponsorWrite: addSponsorsToExistingUsers
    grantLifecycleWrite: setEmployeeLeaveDate
    grantProfileWrite: writesGuestProfiles
    grantGroupRead: detectDynamicGroups
  }
}

// The grants, last: the identity's service principal is created with the identity, and a grant
// sent seconds later can fail with "Not a valid reference update" while it replicates
// (microsoftgraph/msgraph-bicep-types#193). Ordering after the function app and its role
// assignments (minutes on Flex Consumption) gives replication that time; when it is still not
// enough, docs/deployment.md says what to run. The app has no code before `azd deploy`, which
// runs after provisioning, so nothing calls Graph before these exist.
module graphPermissions 'app/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    assign: true
    grantAppRoleAssignment: appRoleAssignmentsEnabled
    grantDeletePermission: grantsDelete
    grantDisablePermission: grantsDisable
    grantSponsorWrite: addSponsorsToExistingUsers
    grantLifecycleWrite: setEmployeeLeaveDate
    grantProfileWrite: writesGuestProfiles
    grantGroupRead: detectDynamicGroups
  }
  dependsOn: [
    api
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output INVITATIONS_QUEUE string = invitationsQueueName
output GRAPH_PERMISSIONS array = graphPermissionList.outputs.permissions
