/*
 * Reading generated result types. PostGraphile makes every mutation payload, its `result` and every
 * connection's `nodes` entry nullable; a successful call of Baton's API fills them, so a null here
 * means a server this client does not understand, and is reported as such instead of crashing later.
 */
import { GraphQLRequestError } from "./graphql";

export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) {
    throw new GraphQLRequestError(`The Baton API answered without ${what}; is the server the same version as this client?`, undefined, "graphql");
  }
  return value;
}

/** A connection's nodes or a list result without the nulls the schema allows. */
export function rows<T>(list: readonly (T | null)[] | null | undefined): T[] {
  return (list ?? []).filter((r): r is T => r !== null);
}
