// Alerts from Application Insights to an action group (email optional):
// - poisoned messages: the app's `guest_onboarding.poisoned` metric (by step and error code), or
//   the Functions host moving a message to <queue>-poison after maxDequeueCount (a host log line);
// - a tenant-wide Graph refusal: the app's `guest_onboarding.steps` metric with outcome
//   "tenant_stop" (invitations blocked for the tenant, say); the Graph error code is a dimension.
// - the offboarding brake engaged: the app's `guest_onboarding.offboardings` metric with outcome
//   "brake_engaged" (more than OFFBOARD_THRESHOLD offboardings within an hour; the rest are held
//   until an operator runs `guest-onboarding release`); what asked for it is a dimension.
// The app exports its metrics through OpenTelemetry (guest_onboarding/telemetry/): in
// workspace-based Application Insights each export is a row of `customMetrics` (`name`,
// `valueSum`, the attributes in `customDimensions`). Metrics are counted where the outcome is
// known, are never sampled, and do not depend on the shape of a log line; `appMetrics` is the
// only place that knows their dimension names (docs/operations.md has the other queries).
// `has` looks for whole terms (runs of letters and digits): "poison" is a term of the queue
// name `guest-invitations-poison`. Each rule is tested by producing its condition through the
// app and evaluating this query over what was emitted (tests/telemetry/test_alerts.py).
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsId string
param actionGroupName string

@description('Email address that receives the alerts; empty: the alerts show in the portal only.')
param alertEmail string = ''

@description('How often the rules run and how far back they look (ISO 8601 duration).')
param evaluationFrequency string = 'PT5M'

var appMetrics = 'customMetrics | extend step = tostring(customDimensions["guest_onboarding.step"]), outcome = tostring(customDimensions["guest_onboarding.outcome"]), code = tostring(customDimensions["error.type"])'
var hostPoisoned = 'traces | where message has "MaxDequeueCount" and message has "poison" | extend step = "host", code = "MaxDequeueCount", messages = 1.0'
var poisonedQuery = 'union (${appMetrics} | where name == "guest_onboarding.poisoned" | extend messages = valueSum), (${hostPoisoned}) | project timestamp, step, code, messages'
var brakeQuery = '${appMetrics} | where name == "guest_onboarding.offboardings" and outcome == "brake_engaged" | extend trigger = tostring(customDimensions["guest_onboarding.offboarding.trigger"]) | project timestamp, trigger, offboardings = valueSum'
var tenantStopQuery = '${appMetrics} | where name == "guest_onboarding.steps" and outcome == "tenant_stop" | project timestamp, step, code, messages = valueSum'

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
          timeAggregation: 'Total'
          metricMeasureColumn: 'messages'
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
          timeAggregation: 'Total'
          metricMeasureColumn: 'messages'
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

resource brakeAlert 'Microsoft.Insights/scheduledQueryRules@2022-08-01-preview' = {
  name: 'alert-offboarding-brake-${uniqueString(applicationInsightsId)}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Guest onboarding: offboardings held by the brake'
    description: 'More offboardings than OFFBOARD_THRESHOLD arrived within an hour (a bad HR export, a forged burst): the rest are held and nothing more is removed. Look at who is held (guest-onboarding release --dry-run), then release or discard them.'
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
          query: brakeQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'offboardings'
          dimensions: [
            {
              name: 'trigger'
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
output brakeQuery string = brakeQuery
output poisonedQuery string = poisonedQuery
output tenantStopQuery string = tenantStopQuery
