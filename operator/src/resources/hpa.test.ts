import { buildSlaveHpa } from './hpa.js';
import { clusterRef } from './test-fixture.js';

describe('buildSlaveHpa: scale-down pace from slaves.scaleDown', () => {
  it('by default waits 300 s of lower recommendations, then removes one slave a minute', () => {
    expect(buildSlaveHpa(clusterRef())!.spec).toMatchObject({
      behavior: {
        scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
    });
  });

  it('takes the window and the pods per minute the spec names', () => {
    const hpa = buildSlaveHpa(
      clusterRef({ slaves: { scaleDown: { stabilizationWindowSeconds: 15, podsPerMinute: 4 } } }),
    )!;
    expect((hpa.spec as any).behavior).toEqual({
      scaleDown: { stabilizationWindowSeconds: 15, policies: [{ type: 'Pods', value: 4, periodSeconds: 60 }] },
    });
  });

  it('defaults the field the spec leaves out, and allows no window at all', () => {
    expect(
      (buildSlaveHpa(clusterRef({ slaves: { scaleDown: { podsPerMinute: 3 } } }))!.spec as any).behavior.scaleDown,
    ).toEqual({ stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 3, periodSeconds: 60 }] });
    expect(
      (buildSlaveHpa(clusterRef({ slaves: { scaleDown: { stabilizationWindowSeconds: 0 } } }))!.spec as any).behavior
        .scaleDown,
    ).toEqual({ stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] });
  });
});
