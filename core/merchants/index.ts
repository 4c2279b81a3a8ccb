// Merchants (docs/architecture.md §4): records, notify secrets, fee settings.

export { Merchants } from './merchants';
export { merchantToJson, readMerchant, secretFingerprint, type Merchant, type MerchantInput, type MerchantView } from './records';
