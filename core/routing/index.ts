// The routing table's public surface (docs/architecture.md §4). See README.md in this folder.

export { createRouting, type Routing } from './routing';
export type {
  ChannelLimits,
  ChannelState,
  FeeRule,
  PayerElementName,
  ProductName,
  RouteDecision,
  RouteOrder,
  RoutingChannel,
} from './types';
