// The widget (one classic script on other people's pages) and the console (ES modules),
// linted as written: there is no build step.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["widget/widget.js"],
    languageOptions: { sourceType: "script", ecmaVersion: 2022, globals: globals.browser },
  },
  {
    files: ["widget/demo/*.js"],
    languageOptions: { sourceType: "script", ecmaVersion: 2022, globals: globals.browser },
  },
  {
    files: ["agents/console/**/*.js"],
    languageOptions: { sourceType: "module", ecmaVersion: 2022, globals: globals.browser },
  },
  {
    rules: {
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      eqeqeq: ["error", "always", { null: "ignore" }],  // x != null: null or undefined
      "no-implicit-globals": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
    },
  },
];
