// A fixed id key for unit tests and fixtures only: deployments take theirs from PAYCORE_ID_KEY.

import { idKey } from './ids';

export const test_id_key = idKey(Buffer.alloc(32, 0x5a));
