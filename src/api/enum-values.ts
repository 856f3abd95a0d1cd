/*
 * PostGraphile constant-cases PostgreSQL enum labels (`pending` -> `PENDING`). Baton's statuses are
 * lowercase words on the wire, in the CLI and in SQL, and a lowercase word is already a valid GraphQL
 * enum value name, so a label that is one stays as it is; anything else gets the default inflection.
 */
import type {} from "postgraphile";

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

export const EnumValuesAsLabelsPlugin: GraphileConfig.Plugin = {
  name: "BatonEnumValuesAsLabels",
  version: "1.0.0",
  inflection: {
    replace: {
      enumValue(previous, options, value, codec) {
        return GRAPHQL_NAME.test(value) && !["true", "false", "null"].includes(value) ? value : previous!(value, codec);
      },
    },
  },
};
