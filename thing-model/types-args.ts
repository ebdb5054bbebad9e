/**
 * The arguments of `alink-agent tsl types`: `FILE...` and `--product NAME=FILE`, and the namespace each product's
 * types go in when several are printed as one module (`generateProductTypes`).
 */
import { isIdentifier, namespaceName, type ProductTypes } from './generate-types';
import type { ThingModel } from './types';

export const TYPES_USAGE = 'alink-agent tsl types FILE... [--product NAME=FILE]...';

/** One TSL named on the command line, with the namespace name given for it, if any. */
export interface TypesProduct {
  file: string;
  name?: string;
}

/**
 * The files, in command-line order. `namespaced` is false only for one file without a name: that prints the
 * single-model output unchanged. A usage problem comes back as one line naming the argument.
 */
export function typesArgs(args: readonly string[]): { products: TypesProduct[]; namespaced: boolean } | { usage: string } {
  const products: TypesProduct[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    let spec: string | undefined;
    if (a === '--product') {
      spec = args[++i];
      if (spec === undefined) return { usage: '--product: expected NAME=FILE after it, received nothing' };
    } else if (a.startsWith('--product=')) {
      spec = a.slice('--product='.length);
    } else if (a.startsWith('-') || a === '') {
      return { usage: `unknown argument "${a}"` };
    } else {
      products.push({ file: a });
      continue;
    }
    const eq = spec.indexOf('=');
    const name = eq < 0 ? '' : spec.slice(0, eq);
    const file = eq < 0 ? '' : spec.slice(eq + 1);
    if (eq < 0 || file === '') return { usage: `--product "${spec}": expected NAME=FILE, received no ${eq < 0 ? '=' : 'FILE'}` };
    if (!isIdentifier(name)) return { usage: `--product "${spec}": expected NAME to be a TypeScript identifier, received "${name}"` };
    products.push({ file, name });
  }
  if (products.length === 0) return { usage: 'tsl types: expected at least one FILE, received none' };
  return { products, namespaced: products.length > 1 || products.some((p) => p.name !== undefined) };
}

/**
 * Gives each loaded product its namespace: the name given with `--product`, else {@link namespaceName}. Two products
 * in one namespace are refused, one line per clash naming the file and where the name came from.
 */
export function resolveProducts(loaded: ReadonlyArray<TypesProduct & { model: ThingModel }>): { products: ProductTypes[] } | { problems: string[] } {
  const owner = new Map<string, string>();
  const problems: string[] = [];
  const products = loaded.map((p) => {
    const namespace = p.name ?? namespaceName(p.model.productKey, p.file);
    const first = owner.get(namespace);
    if (first === undefined) owner.set(namespace, p.file);
    else if (p.name !== undefined) problems.push(`${p.file}: --product ${p.name}: expected a namespace name no other product has, received "${namespace}" (taken by ${first})`);
    else problems.push(`${p.file}: profile.productKey: expected a product key whose namespace no other product has, received "${p.model.productKey}" (namespace ${namespace} is taken by ${first}); name one with --product NAME=FILE`);
    return { namespace, model: p.model, source: p.file.replace(/^.*[\\/]/, '') };
  });
  return problems.length > 0 ? { problems } : { products };
}
