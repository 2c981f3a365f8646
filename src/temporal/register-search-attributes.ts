import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Logger } from '../observability/logger';
import { SUNDIAL_SEARCH_ATTRIBUTES } from './search-attributes';

/**
 * Registers Sundial's search attributes on an existing cluster (the dev server gets them on its
 * command line). Needs the operator role; without it, the error says what to run instead.
 */
export async function ensureSearchAttributes(client: Client, namespace: string, logger: Logger): Promise<void> {
  const op = client.connection.operatorService;
  const existing = await op.listSearchAttributes({ namespace });
  const missing = SUNDIAL_SEARCH_ATTRIBUTES.filter((k) => existing.customAttributes?.[k.name] === undefined);
  if (missing.length === 0) return;
  try {
    await op.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((k) => [k.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    logger.info({ added: missing.map((k) => k.name) }, 'registered search attributes');
  } catch (err) {
    const cmd = missing
      .map((k) => `temporal operator search-attribute create --namespace ${namespace} --name ${k.name} --type Keyword`)
      .join(' && ');
    throw new Error(
      `Sundial needs search attributes ${missing.map((k) => k.name).join(', ')} and could not register them (${(err as Error).message}). Ask an operator to run: ${cmd}`,
    );
  }
}
