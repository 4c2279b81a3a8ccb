// Guided routing (引导路由): which products a payer in a given scene is offered, in display
// order. The table is the one place this order is decided:
//
// | scene            | products, first shown first                                          |
// |------------------|----------------------------------------------------------------------|
// | PC               | WECHAT_NATIVE, ALIPAY_QR (scan with a phone), ALIPAY_PC, UNIONPAY_QUICK, BANK_B2C, BANK_B2B |
// | MOBILE_BROWSER   | ALIPAY_WAP, WECHAT_H5, UNIONPAY_QUICK, BANK_B2C                        |
// | WECHAT_BROWSER   | WECHAT_JSAPI (pay inside WeChat), UNIONPAY_QUICK — Alipay cannot open inside WeChat |
// | ALIPAY_CLIENT    | ALIPAY_WAP, UNIONPAY_QUICK                                            |
// | APP              | WECHAT_APP, ALIPAY_APP, UNIONPAY_QUICK                                |
// | POS              | BARCODE (the payer shows a payment code)                              |

import type { ProductName } from './types';

export interface PaymentOption {
  product: ProductName;
  display_name: string;
}

const display_names: Readonly<Record<ProductName, string>> = {
  WECHAT_NATIVE: 'WeChat Pay', WECHAT_JSAPI: 'WeChat Pay', WECHAT_APP: 'WeChat Pay', WECHAT_H5: 'WeChat Pay',
  ALIPAY_QR: 'Alipay', ALIPAY_APP: 'Alipay', ALIPAY_WAP: 'Alipay', ALIPAY_PC: 'Alipay (web)',
  UNIONPAY_QUICK: 'UnionPay quick pay', BANK_B2C: 'Online banking', BANK_B2B: 'Corporate online banking', BARCODE: 'Payment code',
};

const scene_products: Readonly<Record<string, readonly ProductName[]>> = {
  PC: ['WECHAT_NATIVE', 'ALIPAY_QR', 'ALIPAY_PC', 'UNIONPAY_QUICK', 'BANK_B2C', 'BANK_B2B'],
  MOBILE_BROWSER: ['ALIPAY_WAP', 'WECHAT_H5', 'UNIONPAY_QUICK', 'BANK_B2C'],
  WECHAT_BROWSER: ['WECHAT_JSAPI', 'UNIONPAY_QUICK'],
  ALIPAY_CLIENT: ['ALIPAY_WAP', 'UNIONPAY_QUICK'],
  APP: ['WECHAT_APP', 'ALIPAY_APP', 'UNIONPAY_QUICK'],
  POS: ['BARCODE'],
};

export function productsForScene(scene: string): PaymentOption[] | undefined {
  if (!Object.prototype.hasOwnProperty.call(scene_products, scene)) return undefined;
  return scene_products[scene]!.map((product) => ({ product, display_name: display_names[product] }));
}
