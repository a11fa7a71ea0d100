/** Validation findings: each names the PolicySet, the field path and what is wrong with it. */
export interface PolicyIssue {
  policySet: string;
  /** Field path inside the spec, e.g. `rules[3].match.urlRegex`; empty for the whole document. */
  path: string;
  message: string;
  /** Where in the source text (1-based), when the issue came from text the parser kept positions for. */
  line?: number;
  column?: number;
}

export function formatIssue(issue: PolicyIssue): string {
  return issue.path ? `${issue.policySet}: ${issue.path}: ${issue.message}` : `${issue.policySet}: ${issue.message}`;
}
