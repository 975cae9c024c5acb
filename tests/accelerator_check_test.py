"""experiments/accelerator_check.py on CPU: a dry run of its parts (tiny shapes) and its budget handling."""

import json
import math
import os
import sys
import time

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import accelerator_check  # pylint: disable=g-import-not-at-top

VARIANTS = ('backbone', 'spartan_dense', 'houlsby')


def read(out):
  with open(os.path.join(out, 'accelerator_check.json')) as f:
    results = json.load(f)
  with open(os.path.join(out, 'accelerator_check.md')) as f:
    return results, f.read()


class AcceleratorCheckTest(absltest.TestCase):

  def test_parts_in_order(self):
    names = [n for n, _ in accelerator_check.make_parts(dry_run=False, repeats=1, min_time=0.0)]
    self.assertEqual(names[:4], ['numerics', 'speed roberta-base 32x128 float32', 'speed roberta-base 32x128 bfloat16',
                                 'demo'])
    self.assertLen(names, 10)
    self.assertIn('speed minilm 8x512 bfloat16', names)
    dry = [n for n, _ in accelerator_check.make_parts(dry_run=True, repeats=1, min_time=0.0)]
    self.assertEqual([n.split()[0] for n in dry], [n.split()[0] for n in names])

  def dry_run(self, name):
    """One part of the dry run (tiny shapes; speed: three methods, one dtype); its result and the markdown."""
    parts = dict(accelerator_check.make_parts(dry_run=True, repeats=1, min_time=0.0, variants=VARIANTS))
    out = self.create_tempdir().full_path
    header = accelerator_check.make_header('test', True, 1, 0.0)
    accelerator_check.run_parts([(name, parts[name])], out, budget_s=600, header=header)
    results, markdown = read(out)
    self.assertEqual(results['device']['backend'], 'cpu')
    self.assertIsNone(results['device']['peak_tflops'])
    self.assertEqual(results['parts'][name]['status'], 'done', results['parts'][name].get('error'))
    self.assertIn(f'## {name}: done', markdown)
    return results['parts'][name]['result'], markdown

  def test_dry_run_numerics(self):
    numerics, markdown = self.dry_run('numerics')
    self.assertLen(numerics['golden'], 6)  # bert, roberta, minilm × float32, bfloat16
    for g in numerics['golden']:
      limit = 1e-4 if g['dtype'] == 'float32' else 0.1
      self.assertLess(g['hidden_err'], limit, g)
      self.assertLess(g['logits_err'], limit, g)
    for l in numerics['lookup']:
      limit = 1e-5 if l['dtype'] == 'float32' else 0.1
      errors = {k: v for k, v in l.items() if k.endswith('_err')}
      self.assertLen(errors, 6)
      self.assertLess(max(l[k] / max(l.get(k[:-4] + '_scale', 1.0), 1.0) for k in errors), limit, l)
    self.assertIn('| bert | float32 |', markdown)

  def test_dry_run_speed(self):
    speed, markdown = self.dry_run('speed roberta-base 2x8 bfloat16')
    rows = speed['rows']
    self.assertEqual([r['variant'] for r in rows], list(VARIANTS))
    for r in rows:
      self.assertEqual((r['model'], r['batch'], r['length'], r['dtype']), ('roberta-base', 2, 8, 'bfloat16'))
      for key in ('infer_ex_s', 'infer_ms', 'train_ex_s', 'train_ms', 'train_gflop', 'train_mem_gb'):
        self.assertTrue(math.isfinite(r[key]) and r[key] > 0, f"{r['variant']} {key}={r[key]}")
      self.assertIsNone(r['train_mfu'])  # No peak for a CPU.
    self.assertIn('vs_houlsby', rows[1])
    self.assertEqual(list(speed['compile_s']), list(VARIANTS))
    self.assertIn('SPARTAN vs houlsby', markdown)
    self.assertIn('- compile s: backbone', markdown)

  def test_dry_run_demo(self):
    demo, _ = self.dry_run('demo')
    self.assertEqual(demo['total_steps'], 2)
    self.assertBetween(demo['test_score'], 0.0, 1.0)

  def test_budget_keeps_finished_parts_and_marks_the_rest(self):
    def slow(record, budget):
      record['items'] = [1]
      time.sleep(0.3)
      budget.check()
      record['items'].append(2)

    def broken(record, budget):
      del record, budget
      raise ValueError('no such device')

    parts = [('first', lambda r, b: r.update(x=1)), ('broken', broken), ('slow', slow),
             ('never', lambda r, b: r.update(x=3))]
    out = self.create_tempdir().full_path
    writes = []
    results = accelerator_check.run_parts(
        parts, out, budget_s=0.2, header={'command': 'test', 'device': accelerator_check.device_info(),
                                          'dry_run': True, 'method': 'none'},
        write=lambda r, o: (writes.append(json.loads(json.dumps(r))), accelerator_check.write_files(r, o)))
    status = {n: p['status'] for n, p in results['parts'].items()}
    self.assertEqual(status, {'first': 'done', 'broken': 'failed', 'slow': 'partial', 'never': 'skipped'})
    self.assertEqual(results['parts']['first']['result'], {'x': 1})
    self.assertIn('ValueError: no such device', results['parts']['broken']['error'])
    self.assertEqual(results['parts']['slow']['result'], {'items': [1]})
    self.assertEqual(writes[0]['parts']['first']['status'], 'done')  # Written after the first part.
    self.assertEqual(writes[0]['parts']['slow']['status'], 'skipped')
    on_disk, markdown = read(out)
    self.assertEqual({n: p['status'] for n, p in on_disk['parts'].items()}, status)
    self.assertIn('| never | skipped | 0 |', markdown)
    self.assertIn('ValueError: no such device', markdown)

  def test_peak_table(self):
    self.assertEqual(accelerator_check.peak_tflops('NVIDIA H200')['bfloat16'], 989.0)
    self.assertEqual(accelerator_check.peak_tflops('NVIDIA H100 PCIe')['bfloat16'], 756.0)
    self.assertEqual(accelerator_check.peak_tflops('TPU v5 lite')['bfloat16'], 197.0)
    self.assertIsNone(accelerator_check.peak_tflops('cpu'))


if __name__ == '__main__':
  absltest.main()
