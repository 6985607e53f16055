// Alerts from Application Insights to an action group (email optional):
// - poisoned messages: a step logged with outcome "poisoned", or the Functions host moving a
//   message to <queue>-poison after maxDequeueCount;
// - a tenant-wide Graph refusal: a step logged with outcome "tenant_stop" (invitations blocked for
//   the tenant, say); the Graph error code is a dimension of the alert.
// The app logs one JSON object per step through the `guest_onboarding` logger, e.g.
// {"step": "invite", "outcome": "poisoned", "error": "<code>", ...}; in workspace-based
// Application Insights each is a row of `traces` whose `message` is that JSON. When the app emits
// OpenTelemetry metrics instead, replace `stepEvents` (the only place that knows the log shape).
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsId string
param actionGroupName string

@description('Email address that receives the alerts; empty: the alerts show in the portal only.')
param alertEmail string = ''

@description('How often the rules run and how far back they look (ISO 8601 duration).')
param evaluationFrequency string = 'PT5M'

var stepEvents = 'traces | where message startswith "{" | extend entry = parse_json(message) | extend outcome = tostring(entry.outcome), code = tostring(entry.error), step = tostring(entry.step)'
var hostPoisoned = 'traces | where message has "MaxDequeueCount" and message has "-poison" | extend outcome = "poisoned", code = "MaxDequeueCount", step = "host"'
var poisonedQuery = 'union (${stepEvents} | where outcome == "poisoned"), (${hostPoisoned}) | project timestamp, step, code'
var tenantStopQuery = '${stepEvents} | where outcome == "tenant_stop" | project timestamp, step, code'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'guestonb'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource poisonedAlert 'Microsoft.Insights/scheduledQueryRules@2022-08-01-preview' = {
  name: 'alert-poisoned-${uniqueString(applicationInsightsId)}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Guest onboarding: messages poisoned'
    description: 'A message went to a <queue>-poison queue (rejected input, a permanent Graph refusal, or retries exhausted). Read the envelope on the poison queue.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: evaluationFrequency
    criteria: {
      allOf: [
        {
          query: poisonedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource tenantStopAlert 'Microsoft.Insights/scheduledQueryRules@2022-08-01-preview' = {
  name: 'alert-tenant-stop-${uniqueString(applicationInsightsId)}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Guest onboarding: Graph refused the whole tenant'
    description: 'Graph refused a call for the whole tenant (for example invitations blocked for the directory); the app stops sending until it is lifted. The code dimension is Graph\'s error code.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: evaluationFrequency
    criteria: {
      allOf: [
        {
          query: tenantStopQuery
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'code'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
output poisonedQuery string = poisonedQuery
output tenantStopQuery string = tenantStopQuery
