/** Paging and id schemas the OTA list actions share (docs/protocol/ota-platform.md, "Lists"). */

export const firmwareIdSchema = { type: 'string', minLength: 1, maxLength: 64, expected: 'a FirmwareId' };
export const jobIdSchema = { type: 'string', minLength: 1, maxLength: 64, expected: 'a JobId' };

/** PageSize ≤ 100 and CurrentPage × PageSize ≤ 100,000, as ListOTATaskByJob documents. */
export const pagingSchema = {
  CurrentPage: { type: 'integer', minimum: 1, maximum: 100_000, expected: 'a page number from 1' },
  PageSize: { type: 'integer', minimum: 1, maximum: 100, expected: 'a page size 1..100' },
};

const DEFAULT_PAGE_SIZE = 10;

/** One page of `all` and the top-level paging fields of the response. */
export function page<T>(all: T[], p: { CurrentPage?: number; PageSize?: number }) {
  const size = p.PageSize ?? DEFAULT_PAGE_SIZE;
  const current = p.CurrentPage ?? 1;
  return {
    paging: { CurrentPage: current, PageSize: size, PageCount: Math.ceil(all.length / size), Total: all.length },
    items: all.slice((current - 1) * size, current * size),
  };
}
