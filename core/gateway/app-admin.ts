// AppAdminService: the apps allowed to call paycore, their merchants, roles and keys. Key
// secrets leave paycore once, in RotateAppKey's answer; everything else shows a fingerprint.

import type * as grpc from '@grpc/grpc-js';
import {
  AppAdminServiceDefinition,
  type App as WireApp,
  type DeleteAppRequest, type DeleteAppResponse, type GetAppRequest, type GetAppResponse, type ListAppsRequest, type ListAppsResponse,
  type RetireAppKeyRequest, type RetireAppKeyResponse, type RotateAppKeyRequest, type RotateAppKeyResponse, type UpsertAppRequest,
  type UpsertAppResponse,
} from '../../proto/gen/paycore/v1/admin';
import { invalidFields } from '../errors';
import type { Logger } from '../log';
import { all_merchants, type App, type AppRole, type AppView } from '../routing/apps';
import type { AppRegistry } from '../routing/app-registry';
import { adminUnary, grpcDefinition } from './admin';

export const app_admin_service = grpcDefinition(AppAdminServiceDefinition);

export interface AppAdminServiceServer extends grpc.UntypedServiceImplementation {
  upsertApp: grpc.handleUnaryCall<UpsertAppRequest, UpsertAppResponse>;
  getApp: grpc.handleUnaryCall<GetAppRequest, GetAppResponse>;
  listApps: grpc.handleUnaryCall<ListAppsRequest, ListAppsResponse>;
  deleteApp: grpc.handleUnaryCall<DeleteAppRequest, DeleteAppResponse>;
  rotateAppKey: grpc.handleUnaryCall<RotateAppKeyRequest, RotateAppKeyResponse>;
  retireAppKey: grpc.handleUnaryCall<RetireAppKeyRequest, RetireAppKeyResponse>;
}

export function appAdminService(table: AppRegistry, log?: Logger): AppAdminServiceServer {
  const unary = adminUnary(log);
  return {
    upsertApp: unary('UpsertApp', async (request: UpsertAppRequest): Promise<UpsertAppResponse> => {
      if (request.app === undefined) throw invalidFields([{ field: 'app', description: 'is required' }]);
      return { app: toWireApp(await table.upsertApp(fromWireApp(request.app))) };
    }),
    getApp: unary('GetApp', (request: GetAppRequest): GetAppResponse => ({ app: toWireApp(table.getApp(request.appId)) })),
    listApps: unary('ListApps', (): ListAppsResponse => ({ apps: table.listApps().map(toWireApp) })),
    deleteApp: unary('DeleteApp', async (request: DeleteAppRequest): Promise<DeleteAppResponse> => {
      await table.deleteApp(request.appId);
      return { appId: request.appId };
    }),
    rotateAppKey: unary('RotateAppKey', async (request: RotateAppKeyRequest): Promise<RotateAppKeyResponse> => {
      const rotated = await table.rotateAppKey(request.appId);
      return { app: toWireApp(rotated.app), keyId: rotated.key_id, secret: rotated.secret };
    }),
    retireAppKey: unary('RetireAppKey', async (request: RetireAppKeyRequest): Promise<RetireAppKeyResponse> => ({ app: toWireApp(await table.retireAppKey(request.appId)) })),
  };
}

/** The routing table validates (apps.ts readApp): field paths come back as `app.roles[1]`. */
function fromWireApp(w: WireApp): App {
  if (w.allMerchants && w.merchantIds.length > 0) throw invalidFields([{ field: 'app.merchant_ids', description: 'must be empty when all_merchants is set' }]);
  return { app_id: w.appId, merchants: w.allMerchants ? all_merchants : w.merchantIds, roles: w.roles as AppRole[] };
}

function toWireApp(app: AppView): WireApp {
  return {
    appId: app.app_id,
    merchantIds: app.merchants === all_merchants ? [] : [...app.merchants],
    allMerchants: app.merchants === all_merchants,
    roles: [...app.roles],
    keys: app.keys.map((k) => ({ keyId: k.key_id, state: k.state, fingerprint: k.fingerprint, last4: k.last4, createdAt: new Date(k.created_at_ms) })),
  };
}
