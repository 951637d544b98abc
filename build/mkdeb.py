"""Stage and build the iso8583d .deb from build/dist and packaging/debian (`make deb`).

    .venv/bin/python build/mkdeb.py [--binary build/dist/iso8583d] [--out build/deb]

Run by the venv's Python: it reads the one-file archive with PyInstaller's
own reader to find what the bundled libraries need from the system.

Staged tree (build/deb/root), packed by `dpkg-deb --root-owner-group --build`:

  /usr/bin/iso8583d                       the one-file executable (never stripped)
  /usr/bin/iso8583d-client -> iso8583d    same binary; it dispatches on its name
  /usr/bin/iso8583, iso8583_web_client, ... -> iso8583d
                                          the seed's command names (SEED_COMMANDS)
  /etc/iso8583d/conf.d/*.ini              conf.d/ of the repository, as conffiles
  /lib/systemd/system/iso8583d@.service   template unit, one instance per role
  /lib/systemd/system/iso8583d-rekon@.{service,timer}
                                          the bank's daily settlement file per
                                          pemda host (not enabled)
  /usr/share/doc/iso8583d/                copyright, changelog.gz
  /usr/share/doc/iso8583d/examples/       packaging/examples/: haproxy.cfg in front
                                          of two bank nodes (docs/two-nodes.md)
  /usr/share/man/man1/                    manual pages made from --help

Version: appliance/__init__.py's __version__ (the single version source); the
top entry of packaging/debian/changelog must carry the same version.
Architecture: `dpkg --print-architecture`. Depends: computed from the binary
(see depends()).
"""
import argparse
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEBIAN = os.path.join(ROOT, 'packaging', 'debian')
PACKAGE = 'iso8583d'
DEFAULT_MAINTAINER = 'iso8583d maintainers <iso8583d@example.org>'
# What the maintainer scripts run: groupadd/useradd (postinst).
SCRIPT_DEPENDS = ['passwd']


# The seed's (iso8583-web's) command names: symlinks to the binary, which runs
# appliance.cli.seed.COMMANDS[name] (build/entry.py); name -> its manual page.
SEED_COMMANDS = {
    'iso8583': 'iso8583d',
    'iso8583_web_client': 'iso8583d-client',
    'iso8583_web_client_linkaja': 'iso8583d-client',
    'iso8583_bjb_pbb_initdb': 'iso8583d',
    'iso8583_bjb_pbb_test_aggregator_initdb': 'iso8583d',
    'init_db_linkaja': 'iso8583d',
}


class BuildError(Exception):
    pass


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, **kw).stdout


def package_version():
    with open(os.path.join(ROOT, 'appliance', '__init__.py')) as f:
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M)
    if not m:
        raise BuildError('no __version__ in appliance/__init__.py')
    return m.group(1)


def changelog_version():
    with open(os.path.join(DEBIAN, 'changelog')) as f:
        m = re.match(r'%s \(([^)]+)\)' % PACKAGE, f.readline())
    if not m:
        raise BuildError('packaging/debian/changelog does not start with "%s (VERSION)"'
                         % PACKAGE)
    return m.group(1)


# -- Depends -------------------------------------------------------------------

def _elf(path):
    with open(path, 'rb') as f:
        return f.read(4) == b'\x7fELF'


def extract_libraries(binary, dest):
    """The bundled shared libraries and extension modules, written under dest."""
    from PyInstaller.archive.readers import CArchiveReader
    archive = CArchiveReader(binary)
    paths = []
    for name, entry in archive.toc.items():
        if entry[-1] not in ('b', 'x'):         # binaries and extension modules
            continue
        path = os.path.join(dest, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(archive.extract(name))
        if _elf(path):
            paths.append(path)
    return paths


def glibc_needed(paths):
    """The highest GLIBC_x.y symbol version any of the ELF files needs."""
    best = (0,)
    for path in paths:
        out = subprocess.run(['objdump', '-T', path], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        for v in re.findall(r'\bGLIBC_(\d+(?:\.\d+)+)\b', out):
            best = max(best, tuple(int(x) for x in v.split('.')))
    return '.'.join(map(str, best)) if best != (0,) else None


def external_libraries(paths, dest):
    """Libraries the bundled ones load from the system: {soname: path}."""
    dirs = sorted({os.path.dirname(p) for p in paths} | {dest})
    env = dict(os.environ, LD_LIBRARY_PATH=':'.join(dirs))
    found = {}
    for path in paths:
        out = subprocess.run(['ldd', path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env).stdout
        for line in out.splitlines():
            m = re.match(r'\s*(\S+) => (\S+) \(', line)
            if m and m.group(2) == 'not':
                raise BuildError('%s: %s is not found' % (path, m.group(1)))
            if m and not m.group(2).startswith(dest + os.sep):
                found[m.group(1)] = m.group(2)
    return found


def owner_package(path):
    for candidate in (path, os.path.realpath(path)):
        # usrmerge: /lib/x86_64-linux-gnu/... is /usr/lib/... for dpkg -S.
        for variant in (candidate, re.sub(r'^/usr/', '/', candidate),
                        '/usr' + candidate if not candidate.startswith('/usr/') else candidate):
            r = subprocess.run(['dpkg-query', '-S', variant], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
            if r.returncode == 0:
                return r.stdout.split(':')[0].strip()
    raise BuildError('no package owns %s' % path)


def bootloader_depends(binary):
    """dpkg-shlibdeps on the bootloader itself (libc6, zlib1g)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, 'debian'))
        with open(os.path.join(tmp, 'debian', 'control'), 'w') as f:
            f.write('Source: %s\n\nPackage: %s\nArchitecture: any\n' % (PACKAGE, PACKAGE))
        out = sh('dpkg-shlibdeps', '-O', '-e' + os.path.abspath(binary), cwd=tmp,
                 stderr=subprocess.DEVNULL)
    m = re.search(r'shlibs:Depends=(.*)', out)
    deps = {}
    for item in filter(None, (s.strip() for s in m.group(1).split(','))):
        name, _, ver = item.partition(' ')
        deps[name] = ver.strip('()').replace('>= ', '') if ver else None
    return deps


def _newer(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a if subprocess.run(['dpkg', '--compare-versions', a, 'gt', b]).returncode == 0 else b


def depends(binary):
    """Depends of the binary: what the bootloader links (dpkg-shlibdeps), plus
    what the bundled libraries load from the system -- glibc only, at the
    highest GLIBC_ symbol version any of them needs; the build fails when a
    bundled library would need any other system library."""
    deps = bootloader_depends(binary)
    with tempfile.TemporaryDirectory() as tmp:
        libs = extract_libraries(binary, tmp)
        glibc = glibc_needed(libs + [binary])
        for soname, path in sorted(external_libraries(libs, tmp).items()):
            pkg = owner_package(path)
            if pkg != 'libc6':
                raise BuildError('bundled libraries load %s (%s, package %s) from the system; '
                                 'bundle it or add it to Depends' % (soname, path, pkg))
    deps['libc6'] = _newer(deps.get('libc6'), glibc)
    for name in SCRIPT_DEPENDS:
        deps.setdefault(name, None)
    return ', '.join('%s (>= %s)' % (n, v) if v else n for n, v in sorted(deps.items()))


# -- manual pages ----------------------------------------------------------------

def _roff(text):
    out = []
    for line in text.rstrip('\n').splitlines():
        line = line.replace('\\', '\\e').replace('-', '\\-')
        if line.startswith(('.', "'")):
            line = '\\&' + line
        out.append(line)
    return '\n'.join(out)


def manpage(name, summary, help_text, version, see_also):
    """A manual page from argparse's --help: usage, then the rest."""
    usage, _, description = help_text.partition('\n\n')
    return ('.TH %s 1 "" "%s %s" "User Commands"\n'
            '.SH NAME\n%s \\- %s\n'
            '.SH SYNOPSIS\n.nf\n%s\n.fi\n'
            '.SH DESCRIPTION\n.nf\n%s\n.fi\n'
            '.SH FILES\n.TP\n.I /etc/iso8583d/conf.d/*.ini\n'
            'configuration drop\\-ins, read in file name order (see 00\\-readme.ini there)\n'
            '.TP\n.I /var/lib/iso8583d\nSQLite databases of the systemd instances\n'
            '.TP\n.I /lib/systemd/system/iso8583d@.service\n'
            'template unit: systemctl enable \\-\\-now iso8583d@pemda (or bank, aggregator)\n'
            '.SH SEE ALSO\n%s\n'
            % (name.upper(), PACKAGE, version, name.replace('-', '\\-'), summary,
               _roff(usage), _roff(description), see_also))


# -- staging ---------------------------------------------------------------------

def install(src, dst, mode):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def write(dst, data, mode=0o644):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(dst, mode)


def gz(data):
    return gzip.compress(data if isinstance(data, bytes) else data.encode(), 9, mtime=0)


def installed_size(root):
    """KiB, as dpkg-gencontrol counts: each file rounded up, 1 per dir or link."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.relpath(dirpath, root).split(os.sep)[0] == 'DEBIAN':
            continue
        total += len(dirnames)
        for name in filenames:
            path = os.path.join(dirpath, name)
            total += 1 if os.path.islink(path) else -(-os.path.getsize(path) // 1024)
    return total


def md5sums(root):
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel.split(os.sep)[0] == 'DEBIAN':
            continue
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            with open(path, 'rb') as f:
                digest = hashlib.md5(f.read()).hexdigest()
            lines.append('%s  %s\n' % (digest, os.path.normpath(os.path.join(rel, name))))
    return ''.join(lines)


def stage(args, version, arch):
    root = os.path.join(args.out, 'root')
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    os.chmod(root, 0o755)
    binary = os.path.abspath(args.binary)

    install(binary, os.path.join(root, 'usr/bin/iso8583d'), 0o755)
    os.symlink('iso8583d', os.path.join(root, 'usr/bin/iso8583d-client'))
    for name in SEED_COMMANDS:
        os.symlink('iso8583d', os.path.join(root, 'usr/bin', name))

    conf_src = os.path.join(ROOT, 'conf.d')
    conffiles = []
    for name in sorted(os.listdir(conf_src)):
        if name.endswith('.ini') and not name.startswith('.'):
            install(os.path.join(conf_src, name),
                    os.path.join(root, 'etc/iso8583d/conf.d', name), 0o644)
            conffiles.append('/etc/iso8583d/conf.d/%s\n' % name)
    if not conffiles:
        raise BuildError('conf.d/ has no *.ini to ship')

    install(os.path.join(DEBIAN, 'iso8583d@.service'),
            os.path.join(root, 'lib/systemd/system/iso8583d@.service'), 0o644)
    for unit in ('iso8583d-rekon@.service', 'iso8583d-rekon@.timer'):
        install(os.path.join(DEBIAN, unit), os.path.join(root, 'lib/systemd/system', unit),
                0o644)
    doc = os.path.join(root, 'usr/share/doc', PACKAGE)
    install(os.path.join(DEBIAN, 'copyright'), os.path.join(doc, 'copyright'), 0o644)
    with open(os.path.join(DEBIAN, 'changelog'), 'rb') as f:
        # A native version (no Debian revision): changelog.gz, not changelog.Debian.gz.
        write(os.path.join(doc, 'changelog.gz'), gz(f.read()))
    examples = os.path.join(ROOT, 'packaging', 'examples')
    for name in sorted(os.listdir(examples)):
        install(os.path.join(examples, name), os.path.join(doc, 'examples', name), 0o644)

    env = {'PATH': '/usr/bin:/bin'}
    daemon_help = sh(binary, '--help', env=env)
    with tempfile.TemporaryDirectory() as tmp:
        client = os.path.join(tmp, 'iso8583d-client')
        os.symlink(binary, client)
        client_help = sh(client, '--help', env=env)
    man1 = os.path.join(root, 'usr/share/man/man1')
    write(os.path.join(man1, 'iso8583d.1.gz'), gz(manpage(
        'iso8583d', 'ISO8583 host\\-to\\-host appliance for PBB payments', daemon_help,
        version, '.BR iso8583d\\-client (1),\n.BR systemctl (1),\n.BR journalctl (1)')))
    write(os.path.join(man1, 'iso8583d-client.1.gz'), gz(manpage(
        'iso8583d-client', 'teller JSON\\-RPC and LinkAja client and stress tool of iso8583d',
        client_help, version, '.BR iso8583d (1)')))
    for name, page in SEED_COMMANDS.items():
        os.symlink(page + '.1.gz', os.path.join(man1, name + '.1.gz'))

    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)

    control_dir = os.path.join(root, 'DEBIAN')
    os.makedirs(control_dir, mode=0o755)
    with open(os.path.join(DEBIAN, 'control')) as f:
        control = f.read()
    fields = {'VERSION': version, 'ARCH': arch, 'MAINTAINER': args.maintainer,
              'DEPENDS': depends(binary), 'INSTALLED_SIZE': str(installed_size(root))}
    for key, value in fields.items():
        control = control.replace('@%s@' % key, value)
    if re.search(r'@[A-Z_]+@', control):
        raise BuildError('unreplaced @FIELD@ in packaging/debian/control:\n' + control)
    write(os.path.join(control_dir, 'control'), control)
    write(os.path.join(control_dir, 'conffiles'), ''.join(conffiles))
    for script in ('postinst', 'prerm', 'postrm'):
        install(os.path.join(DEBIAN, script), os.path.join(control_dir, script), 0o755)
    write(os.path.join(control_dir, 'md5sums'), md5sums(root))
    return root, fields


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--binary', default=os.path.join(ROOT, 'build', 'dist', 'iso8583d'))
    p.add_argument('--out', default=os.path.join(ROOT, 'build', 'deb'))
    p.add_argument('--maintainer', default=os.environ.get('DEB_MAINTAINER') or
                   DEFAULT_MAINTAINER, help='Maintainer field (default: $DEB_MAINTAINER '
                   'or %(default)s)')
    args = p.parse_args(argv)
    args.out = os.path.abspath(args.out)
    try:
        version = package_version()
        if changelog_version() != version:
            raise BuildError('packaging/debian/changelog is at %s but __version__ is %s: '
                             'add a changelog entry for %s' % (changelog_version(), version,
                                                               version))
        arch = sh('dpkg', '--print-architecture').strip()
        if not os.access(args.binary, os.X_OK):
            raise BuildError('%s is missing: run `make binary` first' % args.binary)
        root, fields = stage(args, version, arch)
    except (BuildError, subprocess.CalledProcessError) as e:
        print('mkdeb: %s' % e, file=sys.stderr)
        return 1
    deb = os.path.join(args.out, '%s_%s_%s.deb' % (PACKAGE, version, arch))
    # gzip: the binary is already compressed inside; xz takes 15 s to gain 30 kB.
    subprocess.run(['dpkg-deb', '--root-owner-group', '-Zgzip', '-z9', '--build', root, deb],
                   check=True, stdout=subprocess.DEVNULL)
    print('%s: Version %s, Architecture %s, Installed-Size %s KiB, Depends: %s'
          % (os.path.relpath(deb, ROOT), version, arch, fields['INSTALLED_SIZE'],
             fields['DEPENDS']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
