// Card binding (绑卡/开通) for UnionPay quick pay: BindCard sends the card's verification
// elements to the provider, which texts the cardholder; ConfirmBinding hands in the code and
// gets the card token, owned by the payer and the merchant; ListCards, UnbindCard. A wrong code
// leaves the binding open for binding_wrong_codes_max tries. The elements are sealed before
// they are stored and never logged.

import { createHash } from 'node:crypto';
import { ChannelError, type CardElements, type Channel } from '../../channels/channel';
import { binding_wrong_codes_max } from '../constants';
import { PaycoreError, invalidFields } from '../errors';
import { bindingId, type IdKey } from '../ids';
import type { Logger } from '../log';
import type { ChannelDirectory } from '../routing/directory';
import type { Merchants } from '../merchants/merchants';
import type { RoutingCache } from '../routing/cache';
import type { Sealer } from '../seal';
import type { Binding, BoundCard, CardStore } from './store';

export interface CardServiceDeps {
  store: CardStore;
  channels: Pick<ChannelDirectory, 'get'>;
  merchants: Pick<Merchants, 'merchantChannels'>;
  /** The routing configuration's channels. */
  routing_channels: Pick<RoutingCache, 'listChannels'>;
  sealer: Sealer;
  id_key: IdKey;
  log: Logger;
  now(): Date;
}

export interface BindInput {
  merchant_id: string;
  merchant_binding_no: string;
  payer_id: string;
  card: CardElements;
}

export class CardService {
  constructor(private readonly deps: CardServiceDeps) {}

  /** Starts a binding, or (same binding number, same elements) texts the code again. */
  async bind(input: BindInput): Promise<Binding> {
    const binding_id = bindingId(this.deps.id_key, input.merchant_id, input.merchant_binding_no);
    const fingerprint = createHash('sha256').update(JSON.stringify([input.merchant_id, input.payer_id, input.card.card_no, input.card.holder_name, input.card.id_number, input.card.phone])).digest('hex');
    let found = await this.deps.store.binding(binding_id);
    if (found !== undefined && found.binding.fingerprint !== fingerprint) {
      throw new PaycoreError('IDEMPOTENCY_KEY_REUSED', `merchant_binding_no ${input.merchant_binding_no} was used with other parameters`);
    }
    if (found === undefined) {
      const now = this.deps.now().toISOString();
      const binding: Binding = {
        binding_id, merchant_id: input.merchant_id, payer_id: input.payer_id, channel_id: this.#channelFor(input.merchant_id).channel_id, requested_at: now,
        card_sealed: this.deps.sealer.seal(input.card), card_last4: input.card.card_no.slice(-4), phone_hint: '', status: 'SMS_SENT', wrong_codes: 0,
        fingerprint, created_at: now, updated_at: now,
      };
      // Written ahead of the provider call: a retry repeats the same order and send time.
      if (!(await this.deps.store.putBinding(binding, 0))) throw new PaycoreError('DEPENDENCY_DOWN', 'the binding moved meanwhile; retry with the same key');
      found = await this.deps.store.binding(binding_id);
    }
    const { binding, revision } = found!;
    if (binding.status !== 'SMS_SENT') return binding;
    const channel = this.#channel(binding.channel_id);
    try {
      const sent = await channel.bindCard!({
        binding_id,
        requested_at: new Date(binding.requested_at),
        card: this.deps.sealer.open<CardElements>(binding.card_sealed),
      });
      return await this.#save({ ...binding, phone_hint: sent.phone_hint }, revision);
    } catch (error) {
      if (error instanceof ChannelError && error.kind === 'rejected') {
        return this.#save({ ...binding, status: 'FAILED', failure: { code: error.code, message: error.message } }, revision);
      }
      throw this.#providerDown(error, 'bind');
    }
  }

  /** The cardholder's code: the card token, or a wrong code counted (INVALID_FIELD naming
   * verification_code while tries are left). */
  async confirm(merchant_id: string, binding_id: string, verification_code: string): Promise<Binding> {
    const found = await this.deps.store.binding(binding_id);
    if (found === undefined || found.binding.merchant_id !== merchant_id) throw new PaycoreError('NOT_FOUND', 'no such binding');
    const { binding, revision } = found;
    if (binding.status === 'BOUND') return binding;
    if (binding.status === 'FAILED') throw new PaycoreError('ILLEGAL_STATE', 'the binding failed; start a new one with another merchant_binding_no');
    const channel = this.#channel(binding.channel_id);
    let card_token: string;
    try {
      ({ card_token } = await channel.confirmBinding!({
        binding_id, requested_at: new Date(binding.requested_at), card: this.deps.sealer.open<CardElements>(binding.card_sealed), verification_code,
      }));
    } catch (error) {
      if (error instanceof ChannelError && error.kind === 'rejected' && error.code === 'WRONG_CODE') {
        const wrong_codes = binding.wrong_codes + 1;
        if (wrong_codes >= binding_wrong_codes_max) {
          return this.#save({ ...binding, wrong_codes, status: 'FAILED', failure: { code: 'WRONG_CODE', message: `${wrong_codes} wrong codes` } }, revision);
        }
        await this.#save({ ...binding, wrong_codes }, revision);
        throw invalidFields([{ field: 'verification_code', description: `is not the code sent to the cardholder; ${binding_wrong_codes_max - wrong_codes} tries left` }]);
      }
      if (error instanceof ChannelError && error.kind === 'rejected') {
        return this.#save({ ...binding, status: 'FAILED', failure: { code: error.code, message: error.message } }, revision);
      }
      throw this.#providerDown(error, 'confirm binding');
    }
    // The card first: a binding BOUND always has its card (a crash in between is repaired by
    // the retry, which the provider answers with the same token).
    const now = this.deps.now().toISOString();
    await this.deps.store.putCard({ card_token, merchant_id, payer_id: binding.payer_id, channel_id: binding.channel_id, card_last4: binding.card_last4, binding_id, bound_at: now, status: 'ACTIVE' });
    return this.#save({ ...binding, status: 'BOUND', card_token }, revision);
  }

  list(merchant_id: string, payer_id: string): Promise<BoundCard[]> {
    return this.deps.store.cards(merchant_id, payer_id === '' ? undefined : payer_id);
  }

  /** Deletes the token at the provider, then marks the card unbound: it pays no more. */
  async unbind(merchant_id: string, card_token: string): Promise<void> {
    const card = await this.deps.store.card(merchant_id, card_token);
    if (card === undefined || card.status !== 'ACTIVE') throw new PaycoreError('NOT_FOUND', 'no such card');
    try {
      await this.#channel(card.channel_id).unbindCard!(card_token, { binding_id: `${card.binding_id}d`, requested_at: this.deps.now() });
    } catch (error) {
      // The provider no longer knows the token: it pays no more either way.
      if (!(error instanceof ChannelError && error.kind === 'rejected')) throw this.#providerDown(error, 'unbind');
    }
    await this.deps.store.putCard({ ...card, status: 'UNBOUND' });
  }

  /** Whether a card token may pay for this merchant now (bound here, not unbound). */
  async isBound(merchant_id: string, card_token: string): Promise<boolean> {
    return (await this.deps.store.card(merchant_id, card_token))?.status === 'ACTIVE';
  }

  async #save(binding: Binding, revision: number): Promise<Binding> {
    const next = { ...binding, updated_at: this.deps.now().toISOString() };
    if (!(await this.deps.store.putBinding(next, revision))) throw new PaycoreError('DEPENDENCY_DOWN', 'the binding moved meanwhile; retry');
    return next;
  }

  /** The merchant's first enabled contracted channel that can bind cards. */
  #channelFor(merchant_id: string): Channel {
    const contracted = new Set(this.deps.merchants.merchantChannels(merchant_id));
    for (const routing of this.deps.routing_channels.listChannels()) {
      const channel = this.deps.channels.get(routing.channel_id);
      if (contracted.has(routing.channel_id) && routing.state === 'ENABLED' && channel?.bindCard !== undefined && channel.confirmBinding !== undefined) return channel;
    }
    throw new PaycoreError('NO_ROUTE', 'no channel of this merchant binds cards (UnionPay quick pay)');
  }

  #channel(channel_id: string): Channel {
    const channel = this.deps.channels.get(channel_id);
    if (channel?.bindCard === undefined) throw new PaycoreError('INTERNAL', `channel ${channel_id} is not configured here`);
    return channel;
  }

  #providerDown(error: unknown, operation: string): PaycoreError {
    this.deps.log.warn({ operation, err: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'card binding: provider outcome unknown');
    return new PaycoreError('DEPENDENCY_DOWN', `the provider did not answer the ${operation}; retry with the same key`);
  }
}
