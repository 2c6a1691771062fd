// SPDX-License-Identifier: AGPL-3.0-only

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Why `bytes` is not the JSON object the secrets block carries (architecture §4: UTF-8 JSON
 * `{"policy": …, "meta": …}`), or `null` when it is. The section is not secret, so building
 * a string from it is fine.
 */
export function jsonObjectProblem(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return 'is not valid UTF-8';
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'is not valid JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return 'is not a JSON object';
  }
  return null;
}
