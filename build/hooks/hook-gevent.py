# Replaces PyInstaller's hook-gevent.py, whose submodule filter
# ("gevent.testing" not in name OR "gevent.tests" not in name) is always true:
# it lists gevent's whole test suite as hidden imports (hundreds of
# "Hidden import not found" warnings, and the tests in the bundle unless
# excluded). Same collection, with the filter meant.
from PyInstaller.utils.hooks import collect_all, copy_metadata

excludedimports = ['gevent.testing', 'gevent.tests']

datas, binaries, hiddenimports = collect_all(
    'gevent',
    filter_submodules=lambda name: not name.startswith(('gevent.testing', 'gevent.tests')),
    include_py_files=False,
    exclude_datas=['**/tests', '**/testing'],
)

# gevent asks importlib.metadata / pkg_resources about its dependencies.
datas += copy_metadata('gevent', recursive=True)
