// NotificationAdminService: the dead letters of merchant notifications, listed and re-sent.

import type * as grpc from '@grpc/grpc-js';
import {
  NotificationAdminServiceDefinition,
  type DeadLetter as WireDeadLetter,
  type ListDeadLettersRequest,
  type ListDeadLettersResponse,
  type ResendNotificationRequest,
  type ResendNotificationResponse,
} from '../../proto/gen/paycore/v1/admin';
import { invalidFields } from '../errors';
import type { Logger } from '../log';
import type { DeadLetter, Notifier } from '../notify';
import { adminUnary, grpcDefinition } from './admin';

export const notification_admin_service = grpcDefinition(NotificationAdminServiceDefinition);

const dead_letters_page_default = 100;
const dead_letters_page_max = 1_000;

export interface NotificationAdminServiceServer extends grpc.UntypedServiceImplementation {
  listDeadLetters: grpc.handleUnaryCall<ListDeadLettersRequest, ListDeadLettersResponse>;
  resendNotification: grpc.handleUnaryCall<ResendNotificationRequest, ResendNotificationResponse>;
}

export function notificationAdminService(notifier: Pick<Notifier, 'listDeadLetters' | 'resend'>, log?: Logger): NotificationAdminServiceServer {
  const unary = adminUnary(log);
  return {
    listDeadLetters: unary('ListDeadLetters', async (request: ListDeadLettersRequest) => {
      if (request.limit > dead_letters_page_max) throw invalidFields([{ field: 'limit', description: `must be at most ${dead_letters_page_max}` }]);
      const letters = await notifier.listDeadLetters({
        merchant_id: request.merchantId === '' ? undefined : request.merchantId,
        limit: request.limit === 0 ? dead_letters_page_default : request.limit,
        after_seq: Number(request.afterSeq),
      });
      return { deadLetters: letters.map(toWire) };
    }),
    resendNotification: unary('ResendNotification', async (request: ResendNotificationRequest) => {
      if (request.notificationId === '') throw invalidFields([{ field: 'notification_id', description: 'is required' }]);
      await notifier.resend(request.notificationId);
      return { notificationId: request.notificationId };
    }),
  };
}

function toWire(letter: DeadLetter): WireDeadLetter {
  return {
    seq: BigInt(letter.seq),
    notificationId: letter.id,
    type: letter.type,
    merchantId: letter.merchant_id,
    paymentId: letter.payment_id,
    refundId: letter.refund_id ?? '',
    url: letter.url,
    attempts: letter.attempts,
    resends: letter.resends,
    lastError: letter.last_error,
    lastAttemptAt: letter.last_attempt_at === undefined ? undefined : new Date(letter.last_attempt_at),
    deadAt: new Date(letter.dead_at),
  };
}
