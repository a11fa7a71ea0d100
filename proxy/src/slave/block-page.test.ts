import { escapeHtml, renderBlockPage, wantsHtml } from './block-page.js';

const info = {
  status: 403,
  title: 'Access denied',
  target: 'http://x/<a>',
  reason: 'rule "r" matched',
  rule: 'r<1>',
  policySet: 'corp',
  message: 'No <script>alert(1)</script>',
  proxy: 'slave-0',
};

describe('block page', () => {
  it('escapes everything it echoes in HTML', () => {
    const { contentType, body } = renderBlockPage(info, true);
    expect(contentType).toBe('text/html; charset=utf-8');
    expect(body).not.toContain('<script>');
    expect(body).toContain('No &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).toContain('r&lt;1&gt; (policy set corp)');
    expect(body).toContain('rule &quot;r&quot; matched');
  });

  it('names URL, message, reason, rule and proxy in text', () => {
    expect(renderBlockPage(info, false).body).toBe(
      '403 Access denied\nURL: http://x/<a>\nMessage: No <script>alert(1)</script>\nReason: rule "r" matched\nRule: r<1> (policy set corp)\nProxy: slave-0\n',
    );
  });

  it('serves HTML only to clients that accept it', () => {
    expect(wantsHtml('text/html,application/xhtml+xml')).toBe(true);
    expect(wantsHtml('*/*')).toBe(false);
    expect(wantsHtml(undefined)).toBe(false);
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });
});
