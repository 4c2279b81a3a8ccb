// SplitAdminService (proto/paycore/v1/split.proto): an operator's settlement of a return of a
// share (分账回退) the channel left REQUIRES_MANUAL (core/splits). Role admin:payouts for every
// method (core/auth/policy.ts), which only platform apps hold.

import type * as grpc from '@grpc/grpc-js';
import { SplitAdminServiceDefinition, SplitReturnResolutionOutcome } from '../../proto/gen/paycore/v1/split';
import type * as S from '../../proto/gen/paycore/v1/split';
import { callerOf } from '../auth/guard';
import { invalidFields, PaycoreError, type FieldViolation } from '../errors';
import { isRefundId, isSplitId } from '../ids';
import type { Logger } from '../log';
import { adminUnary, grpcDefinition } from './admin';
import { asPaycoreError } from './payouts';
import { splitToWire, type SplitsDeps } from './splits';

export const split_admin_service = grpcDefinition(SplitAdminServiceDefinition);

const id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const receivers_max = 50;

export function splitAdminService(deps: SplitsDeps | undefined, log: Logger): grpc.UntypedServiceImplementation {
  const unary = adminUnary(log);
  return {
    resolveSplitReturn: unary('ResolveSplitReturn', async (request: S.ResolveSplitReturnRequest, call): Promise<S.ResolveSplitReturnResponse> => {
      if (deps === undefined) throw new PaycoreError('ILLEGAL_STATE', 'this paycore keeps no books (PAYCORE_DATABASE_URL is not set): splits are posted there');
      const violations: FieldViolation[] = [];
      if (!id_pattern.test(request.merchantId)) violations.push({ field: 'merchant_id', description: 'is required: 1..32 of [A-Za-z0-9_-]' });
      if (!isSplitId(request.splitId)) violations.push({ field: 'split_id', description: "must be a split id ('s' and 25 of a-z, 2-7)" });
      if (!isRefundId(request.refundId)) violations.push({ field: 'refund_id', description: "must be a refund id ('r' and 25 of a-z, 2-7)" });
      if (request.lineNo < 1 || request.lineNo > receivers_max) violations.push({ field: 'line_no', description: `must be the receiver's line, 1..${receivers_max}` });
      const returned = request.outcome === SplitReturnResolutionOutcome.SPLIT_RETURN_RESOLUTION_OUTCOME_RETURNED ? true
        : request.outcome === SplitReturnResolutionOutcome.SPLIT_RETURN_RESOLUTION_OUTCOME_NOT_RETURNED ? false : undefined;
      if (returned === undefined) violations.push({ field: 'outcome', description: 'must be RETURNED or NOT_RETURNED' });
      const reason = request.reason.trim();
      if (reason === '' || [...reason].length > 256) violations.push({ field: 'reason', description: 'is required: 1..256 characters' });
      if (violations.length > 0 || returned === undefined) throw invalidFields(violations);
      try {
        const state = await deps.service.resolveReturn(request.merchantId, request.splitId, request.refundId, request.lineNo, { returned, actor: `app:${callerOf(call).app_id}`, reason });
        return { split: splitToWire(state, await deps.books.returned(state.split_id)) };
      } catch (error) {
        throw asPaycoreError(error) ?? error;
      }
    }),
  };
}
