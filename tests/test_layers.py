"""The package's dependencies run one way, and no module imports itself
back through others.

Every `import` and `from ... import` of `appliance` counts, those inside
functions too. A module belongs to the layer of the longest prefix below
that names it; it may import its own package's modules and anything in a
lower layer. Packages named in one layer are siblings: neither may import the
other. Run this file as a script to print the graph's violations.
"""
import ast
import os
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'appliance')

# Bottom first.
LAYERS = (
    ('appliance', 'appliance.errors', 'appliance.patch'),
    ('appliance.iso', 'appliance.settings', 'appliance.metrics'),
    ('appliance.net', 'appliance.http', 'appliance.store'),
    ('appliance.pbb',),
    ('appliance.roles', ),
    ('appliance.roles.pemda', 'appliance.roles.bank'),
    ('appliance.roles.aggregator',),
    ('appliance.ops',),
    ('appliance.runtime',),
    ('appliance.client',),
    ('appliance.cli',),
    ('appliance.__main__',),
)


def modules(root=ROOT):
    """{module name: path} of every .py file under root."""
    found = {}
    base = os.path.dirname(root)
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, base)[:-3].replace(os.sep, '.')
                found[module[:-len('.__init__')] if module.endswith('.__init__')
                      else module] = path
    return found


def imports(module, path, known):
    """[(line, imported module)] of one file, relative imports resolved."""
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - node.level + 1]
                target = '.'.join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            for alias in node.names:
                sub = target + '.' + alias.name
                found.append((node.lineno, sub if sub in known else target))
    return [(line, name) for line, name in found
            if name == 'appliance' or name.startswith('appliance.')]


def layer_of(module):
    """(layer index, sibling prefix) of the longest prefix naming module."""
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + '.'):
                if best is None or len(prefix) > len(best[1]):
                    best = (index, prefix)
    return best


def graph():
    known = modules()
    return known, {m: imports(m, p, known) for m, p in known.items()}


def violations():
    """Lines naming each import that goes up a layer or across siblings."""
    known, edges = graph()
    problems = []
    for module, targets in sorted(edges.items()):
        mine = layer_of(module)
        for line, target in targets:
            theirs = layer_of(target)
            where = '%s:%d imports %s' % (os.path.relpath(known[module]), line, target)
            if mine is None or theirs is None:
                problems.append('%s (no layer for %s)' % (where, module if mine is None
                                                          else target))
            elif theirs[0] > mine[0]:
                problems.append('%s: %s is above %s' % (where, theirs[1], mine[1]))
            elif theirs[0] == mine[0] and theirs[1] != mine[1]:
                problems.append('%s: siblings %s and %s may not import each other'
                                % (where, mine[1], theirs[1]))
    return problems


def cycles():
    """Strongly connected groups of more than one module (Tarjan)."""
    _, edges = graph()
    succ = {m: sorted({t for _, t in ts if t in edges and t != m}) for m, ts in edges.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(succ):
        if v not in index:
            visit(v)
    return groups


def test_no_module_imports_a_higher_layer_or_a_sibling():
    assert violations() == []


def test_the_import_graph_has_no_cycle():
    assert cycles() == []


def test_an_upward_import_inside_a_function_is_caught(tmp_path):
    pkg = tmp_path / 'appliance'
    (pkg / 'iso').mkdir(parents=True)
    (pkg / 'runtime').mkdir()
    for folder in (pkg, pkg / 'iso', pkg / 'runtime'):
        (folder / '__init__.py').write_text('')
    (pkg / 'runtime' / 'app.py').write_text('')
    (pkg / 'iso' / 'codec.py').write_text('def f():\n    from ..runtime import app\n')
    known = modules(str(pkg))
    found = imports('appliance.iso.codec', str(pkg / 'iso' / 'codec.py'), known)
    assert found == [(2, 'appliance.runtime.app')]
    assert layer_of('appliance.runtime.app')[0] > layer_of('appliance.iso.codec')[0]


@pytest.mark.parametrize('module, prefix', [
    ('appliance.net.link', 'appliance.net'),
    ('appliance.roles.bank.teller', 'appliance.roles.bank'),
    ('appliance.roles.aggregator.linkaja', 'appliance.roles.aggregator'),
    ('appliance.errors', 'appliance.errors'),
])
def test_a_module_belongs_to_its_longest_prefix(module, prefix):
    assert layer_of(module)[1] == prefix


if __name__ == '__main__':
    print('\n'.join(violations()) or 'no violations')
    print('\n'.join(' -> '.join(g) for g in cycles()) or 'no cycles')
