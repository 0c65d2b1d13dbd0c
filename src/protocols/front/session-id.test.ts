import { describe, expect, it } from 'vitest';
import { newSessionId } from './session-id.js';

describe('newSessionId', () => {
  it('gives distinct ids with one per-process prefix, 16+ hex digits each', () => {
    const ids = Array.from({ length: 10_000 }, () => newSessionId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16,}$/);
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBe(1);
  });
});
