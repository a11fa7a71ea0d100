import { matchesSelector, selectorString } from './selectors.js';

describe('matchesSelector', () => {
  const labels = { gateway: 'corp', tier: 'base' };
  it.each([
    [{}, true],
    [{ matchLabels: { gateway: 'corp' } }, true],
    [{ matchLabels: { gateway: 'other' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['base', 'extra'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['base'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'gateway', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'gateway', operator: 'DoesNotExist' }] }, false],
    [{ matchLabels: { gateway: 'corp' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['x'] }] }, false],
  ])('%j', (selector, expected) => expect(matchesSelector(selector, labels)).toBe(expected));

  it('selects nothing without a selector', () => expect(matchesSelector(undefined, labels)).toBe(false));
  it('prints a sorted selector string', () => expect(selectorString({ b: '2', a: '1' })).toBe('a=1,b=2'));
});
