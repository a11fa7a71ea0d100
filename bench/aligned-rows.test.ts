import { alignedRows, underline } from './aligned-rows.js';

describe('alignedRows', () => {
  it.each([
    {
      name: 'first column left, figures right',
      table: [
        ['', 'req/s', 'p99'],
        ['squid', '4943', '20.53'],
        ['slave', '10053', '9.1'],
      ],
      left: undefined,
      want: ['       req/s    p99', 'squid   4943  20.53', 'slave  10053    9.1'],
    },
    {
      name: 'every column left, no trailing blanks',
      table: [
        ['figure', 'a', 'b'],
        ['decisions timed', '12', ''],
      ],
      left: new Set([0, 1, 2]),
      want: ['figure           a   b', 'decisions timed  12'],
    },
  ])('$name', ({ table, left, want }) => {
    expect(alignedRows(table, left)).toEqual(want);
  });

  it('underlines each column to its widest cell', () => {
    const table = [
      ['name', 'ms'],
      ['one', '1234'],
    ];
    expect(alignedRows([table[0], underline(table), table[1]])).toEqual(['name    ms', '----  ----', 'one   1234']);
  });
});
