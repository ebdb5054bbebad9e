import { leanStart } from './lean-start';

describe('leanStart', () => {
  it('turns V8 memory-saving mode on at once and off on the first end only', () => {
    const set: string[] = [];
    const end = leanStart((f) => set.push(f));
    expect(set).toEqual(['--optimize-for-size']);
    end();
    end();
    expect(set).toEqual(['--optimize-for-size', '--no-optimize-for-size']);
  });
});
