// Loads every channel adapter so each registers itself (registerChannel), and re-exports the
// channel interface. Import this, not an adapter, to get a channel by its configuration.
import './wechatpay';
import './alipay';
import './unionpay';
import './bankgw';

export * from './channel';
