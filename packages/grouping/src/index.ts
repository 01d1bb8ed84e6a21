// Grouping rules: which labels name an alert's service and environment, and which fields group alerts
// into incidents. One file format (schemas/grouping-rules.v1.json, docs/grouping.md) for the receiver,
// the correlator and the what-if replay.
export {
  compileBy, compileGroupingRules, compileRegex, defaultGroupingRules, defaultGroupingRulesFile, labelValue, serviceEnvironmentKey,
  type CompiledBy, type CompiledGroupRule, type CompiledServiceRule, type GroupingRules, type GroupingRulesFile, type GroupRuleSpec,
  type LabelMatcherSpec, type MatchInput, type MatchSpec, type ServiceRuleSpec, type Source, type ValueMatcherSpec,
} from './rules.ts'
export { isUsableName, MAX_ENVIRONMENT_CHARS, MAX_SERVICE_CHARS } from './names.ts'
export {
  environmentLabelOf, environmentOf, groupKeyOf, groupRuleOf, incidentKeyGroupOf, relabel, serviceFromAlertname, serviceLabelsFor, serviceOf, UNNAMED_SERVICE,
} from './apply.ts'
export {
  formatGroupingErrors, formatOfPath, loadGroupingRulesFile, parseGroupingRules, parseGroupingRulesSetting,
  type GroupingRulesError, type GroupingRulesFormat, type GroupingRulesParse,
} from './parse.ts'
