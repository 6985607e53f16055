// Optional private network (main.bicep `vnetEnabled`), as Microsoft's Flex Consumption samples
// build it: a virtual network with a subnet for private endpoints and a subnet delegated to
// Microsoft.App/environments (what Flex Consumption's VNet integration requires), and a private
// endpoint with its private DNS zone for each storage service the app uses (blob, queue, table).
// storage.bicep turns the account's public network access off in the same mode.
param location string = resourceGroup().location
param tags object = {}
param vnetName string
param storageAccountName string

@description('Address space of the virtual network; the two /24 subnets are carved from it.')
param addressPrefix string = '10.0.0.0/16'
param privateEndpointSubnetPrefix string = '10.0.1.0/24'
param appSubnetPrefix string = '10.0.2.0/24'

var storageServices = [
  'blob'
  'queue'
  'table'
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-03-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          // The app reaches Microsoft Graph on the internet through this subnet. New subnets are
          // becoming private by default (no default outbound access), so say so explicitly; for
          // a fixed egress address, attach a NAT gateway instead.
          defaultOutboundAccess: true
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
    ]
  }
}

module storageEndpoints 'private-endpoint.bicep' = [for service in storageServices: {
  name: 'pe-storage-${service}'
  params: {
    location: location
    tags: tags
    service: service
    storageAccountName: storageAccountName
    vnetId: vnet.id
    subnetId: '${vnet.id}/subnets/private-endpoints'
  }
}]

output vnetId string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/app'
