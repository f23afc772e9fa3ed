// Fast checks of the OS image sources (image/): what can be verified without
// building or booting it. The full build (`npm run image:build`) and the boot,
// update and fallback tests under qemu (`npm run image:test`) take tens of
// minutes and run outside `npm test`; see image/README.md.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadAgentConfig } from '@meshchain/device-agent';

const run = promisify(execFile);
const image = fileURLToPath(new URL('../../image/', import.meta.url));
const overlay = join(image, 'rootfs', 'overlay');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (dir === image && (entry.name === 'out' || entry.name === 'cache')) continue;
      out.push(...(await walk(path)));
    } else if (entry.isFile()) out.push(path);
  }
  return out.sort();
}

/** The shell scripts of image/: by extension or by a shell shebang. */
async function shellScripts(): Promise<{ path: string; shell: 'bash' | 'sh' }[]> {
  const scripts: { path: string; shell: 'bash' | 'sh' }[] = [];
  for (const path of await walk(image)) {
    const head = (await readFile(path, 'utf8')).slice(0, 64);
    const shebang = /^#!\s*(?:\/usr\/bin\/env\s+)?\S*?\b(bash|sh)\b/.exec(head);
    if (shebang) scripts.push({ path, shell: shebang[1] as 'bash' | 'sh' });
    else if (path.endsWith('.sh') || (path.endsWith('.conf') && path.startsWith(join(image, 'targets')))) scripts.push({ path, shell: 'bash' });
  }
  return scripts;
}

/** KEY=VALUE settings of a target file (shell syntax, plain assignments only). */
function parseTarget(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(?:"([^"]*)"|(\S*))\s*(?:#.*)?$/.exec(line.trim());
    if (m?.[1]) vars.set(m[1], m[2] ?? m[3] ?? '');
  }
  return vars;
}

async function targets(): Promise<{ name: string; vars: Map<string, string> }[]> {
  const names = (await readdir(join(image, 'targets'))).filter((f) => f.endsWith('.conf')).sort();
  return Promise.all(names.map(async (f) => ({ name: f.replace(/\.conf$/, ''), vars: parseTarget(await readFile(join(image, 'targets', f), 'utf8')) })));
}

function lockLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** A systemd unit file as sections of key -> values (repeated keys kept). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section?.[1]) {
      current = sections.get(section[1]) ?? new Map();
      sections.set(section[1], current);
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (!kv?.[1] || !current) throw new Error(`not a unit line: ${raw}`);
    current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2] ?? '']);
  }
  return sections;
}

describe('OS image sources (image/)', () => {
  test('every shell script parses (bash -n / sh -n)', async () => {
    const scripts = await shellScripts();
    assert.ok(scripts.length >= 15, `expected the image's scripts, found ${scripts.length}`);
    for (const name of ['build.sh', 'lib/common.sh', 'lib/assemble.sh', 'test/boot-test.sh', 'test/update-test.sh', 'rootfs/customize.sh', 'rootfs/overlay/usr/lib/meshnode/health']) {
      assert.ok(scripts.some((s) => s.path === join(image, name)), `${name} is checked`);
    }
    for (const { path, shell } of scripts) {
      await run(shell, ['-n', path]).catch((error: { stderr?: string }) => {
        assert.fail(`${relative(image, path)} does not parse: ${error.stderr ?? String(error)}`);
      });
    }
  });

  test('a script with a syntax error is caught by the same check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshchain-image-'));
    try {
      const bad = join(dir, 'bad.sh');
      await writeFile(bad, '#!/bin/bash\nif [ -f x ]; then\n  echo missing fi\n');
      await assert.rejects(run('bash', ['-n', bad]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('scripts that are run directly are executable', async () => {
    const direct = ['build.sh', 'lock.sh', 'verify-reproducible.sh', 'keys/make-dev-keys.sh', 'agent/stage.sh', 'agent/native.sh', 'rootfs/customize.sh',
      'test/boot-test.sh', 'test/update-test.sh'];
    const overlayBins = (await walk(join(overlay, 'usr'))).filter((p) => p.includes('/bin/') || p.includes('/lib/meshnode/'));
    for (const path of [...direct.map((f) => join(image, f)), ...overlayBins]) {
      const { mode } = await stat(path);
      assert.ok((mode & 0o111) !== 0, `${relative(image, path)} is not executable`);
    }
  });

  test('package locks are well-formed, sorted, without duplicates, and cover the package lists', async () => {
    for (const lock of ['packages.lock', 'tools.lock', 'builder.lock']) {
      let text: string;
      try {
        text = await readFile(join(image, lock), 'utf8');
      } catch {
        if (lock === 'builder.lock') continue; // refreshed only with the native addons
        throw new Error(`image/${lock} is missing`);
      }
      const lines = lockLines(text);
      assert.ok(lines.length > 20, `${lock} has ${lines.length} entries`);
      for (const line of lines) assert.match(line, /^[a-z0-9][a-z0-9+.-]*=[A-Za-z0-9.+~:-]+$/, `${lock}: bad line "${line}"`);
      const names = lines.map((l) => l.slice(0, l.indexOf('=')));
      assert.equal(new Set(names).size, names.length, `${lock} names a package twice`);
      const sorted = [...lines].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
      assert.deepEqual(lines, sorted, `${lock} is not sorted (LC_ALL=C)`);
    }
    for (const { name, vars } of await targets()) {
      if (vars.get('BUILDABLE') === 'no') continue;
      const lockFile = vars.get('LOCK');
      assert.ok(lockFile, `${name}: LOCK is set`);
      // Every buildable target is pinned (a new target's first lock: image/lock.sh --target T --rootfs-only).
      const lockText = await readFile(join(image, lockFile), 'utf8').catch(() => assert.fail(`${name}: image/${lockFile} is missing`));
      const locked = new Set(lockLines(lockText).map((l) => l.slice(0, l.indexOf('='))));
      for (const list of (vars.get('PACKAGE_LISTS') ?? '').split(/\s+/).filter(Boolean)) {
        const wanted = (await readFile(join(image, list), 'utf8')).split('\n').filter((l) => !/^\s*#/.test(l)).flatMap((l) => l.split(/\s+/)).filter(Boolean);
        assert.ok(wanted.length > 0, `${list} lists packages`);
        for (const pkg of wanted) assert.ok(locked.has(pkg), `${name}: ${pkg} (${list}) is not in ${lockFile}`);
      }
    }
  });

  test('targets: fixed identifiers are valid and distinct, sizes and files exist', async () => {
    const all = await targets();
    assert.ok(all.some((t) => t.name === 'qemu-arm64'));
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const { name, vars } of all) {
      assert.equal(vars.get('TARGET'), name, `${name}.conf sets TARGET=${name}`);
      assert.match(vars.get('COMPATIBLE') ?? '', /^meshnode-/);
      const mbr = vars.get('PARTITION_TABLE') === 'dos';
      const ids = [...vars].filter(([k]) => /(_GUID|_FS_UUID|_HASH_SEED)$/.test(k));
      assert.ok(ids.length >= (mbr ? 4 : 5), `${name}: fixed GUIDs/UUIDs`);
      for (const [k, v] of ids) assert.match(v, uuid, `${name}: ${k}`);
      const partuuids = ['BOOT', 'ROOTA', 'ROOTB', 'DATA'].map((p) => vars.get(`${p}_PARTUUID`) ?? '');
      if (mbr) {
        // MBR: PARTUUID = <disk id>-<partition number>, partitions 1..4 in layout order.
        const diskId = /^0x([0-9a-f]{8})$/.exec(vars.get('DISK_ID') ?? '')?.[1];
        assert.ok(diskId, `${name}: DISK_ID is 0x + 8 hex digits`);
        assert.deepEqual(partuuids, [1, 2, 3, 4].map((n) => `${diskId}-0${n}`), `${name}: PARTUUIDs follow the disk id`);
      } else {
        for (const v of partuuids) assert.match(v, uuid, `${name}: partition GUID ${v}`);
        assert.match(vars.get('DISK_GUID') ?? '', uuid, `${name}: DISK_GUID`);
      }
      assert.equal(new Set([...partuuids, vars.get('DISK_GUID')]).size, 5, `${name}: partition GUIDs are distinct`);
      for (const k of ['BOOT_SIZE_MIB', 'ROOT_SIZE_MIB', 'DATA_SIZE_MIB']) assert.match(vars.get(k) ?? '', /^[1-9][0-9]*$/, `${name}: ${k}`);
      assert.ok(Number(vars.get('ROOT_SIZE_MIB')) >= 512, `${name}: a root slot holds the rootfs`);
      assert.ok(['grub-efi', 'rpi-tryboot'].includes(vars.get('BOOTLOADER') ?? ''), `${name}: known bootloader`);
    }
  });

  test('GRUB, RAUC and fstab templates agree on slots and placeholders', async () => {
    const known = new Set(['@COMPATIBLE@', '@ROOTA_PARTUUID@', '@ROOTB_PARTUUID@', '@BOOT_PARTUUID@', '@DATA_PARTUUID@', '@KERNEL_CMDLINE@']);
    const grub = await readFile(join(image, 'boot', 'grub.cfg.in'), 'utf8');
    const rauc = await readFile(join(image, 'rauc', 'system.conf.in'), 'utf8');
    const fstab = await readFile(join(overlay, 'etc', 'fstab'), 'utf8');
    for (const [file, text] of [['grub.cfg.in', grub], ['system.conf.in', rauc], ['fstab', fstab]] as const) {
      for (const p of text.match(/@[A-Z_]+@/g) ?? []) assert.ok(known.has(p), `${file}: unknown placeholder ${p}`);
    }
    // RAUC's grub backend and grub.cfg use the same bootnames and grubenv.
    const bootnames = [...rauc.matchAll(/^bootname=(\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(bootnames, ['A', 'B']);
    assert.match(rauc, /^bootloader=grub$/m);
    assert.match(rauc, /^grubenv=\/boot\/firmware\/grub\/grubenv$/m);
    assert.match(rauc, /^check-purpose=codesign$/m);
    assert.match(rauc, /^bundle-formats=-plain$/m);
    assert.match(rauc, /^data-directory=\/data\//m);
    for (const slot of bootnames) {
      assert.match(grub, new RegExp(`menuentry "MeshNode slot ${slot}" --id ${slot}`));
      assert.match(grub, new RegExp(`rauc\\.slot=${slot} `));
    }
    assert.match(grub, /load_env --file \$env ORDER A_OK B_OK A_TRY B_TRY/);
    assert.match(grub, /save_env --file \$env ORDER A_OK B_OK A_TRY B_TRY/);
    // The slot A device in RAUC is the partition GRUB boots as slot A.
    assert.match(rauc, /\[slot\.rootfs\.0\]\ndevice=\/dev\/disk\/by-partuuid\/@ROOTA_PARTUUID@/);
    assert.match(grub, /root=PARTUUID=@ROOTA_PARTUUID@ rauc\.slot=A/);
    assert.match(fstab, /^PARTUUID=@DATA_PARTUUID@\s+\/data\s+ext4/m);
    assert.match(fstab, /^PARTUUID=@BOOT_PARTUUID@\s+\/boot\/firmware\s+vfat/m);
  });

  test('the Raspberry Pi RAUC config uses the tryboot backend that the image ships', async () => {
    const rpi = (await targets()).find((t) => t.name === 'rpi');
    assert.ok(rpi, 'targets/rpi.conf');
    const conf = await readFile(join(image, rpi.vars.get('RAUC_CONF') ?? ''), 'utf8');
    assert.match(conf, /^bootloader=custom$/m);
    const backend = /^bootloader-custom-backend=(\S+)$/m.exec(conf)?.[1] ?? '';
    const { mode } = await stat(join(image, 'rootfs', 'targets', 'rpi', backend));
    assert.ok((mode & 0o111) !== 0, `${backend} is executable`);
    assert.deepEqual([...conf.matchAll(/^bootname=(\S+)$/gm)].map((m) => m[1]), ['A', 'B']);
    assert.match(await readFile(join(image, 'boot', 'rpi', 'config.txt.in'), 'utf8'), /^os_prefix=@SLOT_DIR@\/$/m);
  });

  describe('Raspberry Pi tryboot backend (rauc-tryboot): commit and fallback', () => {
    const backend = join(image, 'rootfs', 'targets', 'rpi', 'usr', 'lib', 'meshnode', 'rauc-tryboot');
    let dir: string;
    let env: NodeJS.ProcessEnv;
    const call = async (...args: string[]): Promise<string> => (await run(backend, args, { env })).stdout.trim();
    const prefix = async (file: string): Promise<string | undefined> => /^os_prefix=(.*)$/m.exec(await readFile(join(dir, 'fw', file), 'utf8'))?.[1];
    const exists = (file: string): Promise<boolean> => stat(join(dir, file)).then(() => true, () => false);

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchain-tryboot-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    /** Slot A committed, slot B on trial (what set-primary B leaves), booted into `booted`. */
    const setUp = async (booted: 'A' | 'B'): Promise<void> => {
      await rm(join(dir, 'fw'), { recursive: true, force: true });
      await rm(join(dir, 'rauc'), { recursive: true, force: true });
      await run('mkdir', ['-p', join(dir, 'fw')]);
      const template = await readFile(join(image, 'boot', 'rpi', 'config.txt.in'), 'utf8');
      await writeFile(join(dir, 'fw', 'config.txt'), template.replace('@SLOT_DIR@', 'slotA'));
      await writeFile(join(dir, 'fw', 'tryboot.txt'), template.replace('@SLOT_DIR@', 'slotB'));
      await writeFile(join(dir, 'reboot-param'), '0 tryboot\n');
      await writeFile(join(dir, 'cmdline'), `console=ttyS1,115200 root=PARTUUID=4d534e31-0${booted === 'A' ? 2 : 3} rauc.slot=${booted} rootwait\n`);
      env = {
        PATH: process.env.PATH,
        MESHNODE_FIRMWARE_DIR: join(dir, 'fw'),
        MESHNODE_RAUC_DATA_DIR: join(dir, 'rauc'),
        MESHNODE_KERNEL_CMDLINE_FILE: join(dir, 'cmdline'),
        MESHNODE_REBOOT_PARAM_FILE: join(dir, 'reboot-param'),
        MESHNODE_RAUC_SYSTEM_CONF: join(dir, 'system.conf'),
      };
    };

    test('a trial slot that booted and is marked good becomes the committed slot', async () => {
      await setUp('B');
      assert.equal(await call('get-primary'), 'B');
      assert.equal(await call('get-current'), 'B');
      await call('set-state', 'B', 'good');
      assert.equal(await prefix('config.txt'), 'slotB/');
      assert.equal(await exists('fw/tryboot.txt'), false);
      assert.equal(await exists('reboot-param'), false);
      assert.equal(await call('get-primary'), 'B');
      assert.equal(await call('get-state', 'B'), 'good');
    });

    test('after a failed trial the firmware boots the committed slot; marking the trial bad ends it', async () => {
      await setUp('A');
      assert.equal(await call('get-current'), 'A');
      await call('set-state', 'A', 'good'); // the health check on the slot that came up
      assert.equal(await prefix('config.txt'), 'slotA/', 'marking the committed slot good changes nothing');
      assert.equal(await call('get-primary'), 'B', 'the trial is still pending until marked bad');
      await call('set-state', 'B', 'bad');
      assert.equal(await call('get-state', 'B'), 'bad');
      assert.equal(await exists('fw/tryboot.txt'), false);
      assert.equal(await exists('reboot-param'), false);
      assert.equal(await call('get-primary'), 'A');
      assert.equal(await prefix('config.txt'), 'slotA/');
    });

    test('bad arguments are refused with a clear message and change nothing', async () => {
      await setUp('A');
      await assert.rejects(call('set-state', 'C', 'good'), /not a slot: 'C'/);
      await assert.rejects(call('set-state', 'B', 'maybe'), /good or bad/);
      await assert.rejects(call('reboot-now'), /unknown operation/);
      assert.equal(await prefix('config.txt'), 'slotA/');
      assert.equal(await prefix('tryboot.txt'), 'slotB/');
    });
  });

  describe('app releases on the data partition (seed-releases, run by meshnode-setup on every boot)', () => {
    const seed = join(overlay, 'usr', 'lib', 'meshnode', 'seed-releases');
    let dir: string;
    const root = (): string => join(dir, 'releases');
    const app = (): string => join(dir, 'opt-app');
    const boot = async (): Promise<string> => (await run(seed, [], { env: { PATH: process.env.PATH, MESHNODE_RELEASE_ROOT: root(), MESHNODE_IMAGE_APP: app(), MESHNODE_USER: '' } })).stdout;
    const current = async (): Promise<string> => readlink(join(root(), 'current'));
    /** The image's agent as stage.sh leaves it: VERSION and an executable bin/meshnode. */
    const imageAgent = async (version: string): Promise<void> => {
      await mkdir(join(app(), 'bin'), { recursive: true });
      await writeFile(join(app(), 'VERSION'), `${version}\n`);
      await writeFile(join(app(), 'bin', 'meshnode'), '#!/bin/sh\n', { mode: 0o755 });
    };
    /** What an app update leaves: releases/<version>/ and `current` switched to it. */
    const appUpdate = async (version: string): Promise<void> => {
      await mkdir(join(root(), 'releases', version, 'bin'), { recursive: true });
      await writeFile(join(root(), 'releases', version, 'bin', 'meshnode'), '#!/bin/sh\n', { mode: 0o755 });
      await rm(join(root(), 'current'));
      await symlink(join('releases', version), join(root(), 'current'));
    };

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchain-seed-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('first boot links the image agent in and makes it current; later boots change nothing', async () => {
      await imageAgent('0.1.0');
      assert.match(await boot(), /app release 0\.1\.0 \(the image's agent\) is current/);
      assert.equal(await readlink(join(root(), 'releases', '0.1.0')), app());
      assert.equal(await current(), 'releases/0.1.0');
      assert.equal((await readFile(join(root(), '.image-agent'), 'utf8')).trim(), '0.1.0');
      assert.equal(await boot(), '', 'nothing to do on the second boot');
      assert.equal(await current(), 'releases/0.1.0');
    });

    test('an app update stays current across boots; a new image with a newer agent takes over once', async () => {
      await appUpdate('0.2.0');
      await boot();
      assert.equal(await current(), 'releases/0.2.0', 'the app update is kept');
      // A system update brings an image whose agent is 0.3.0: the old link (0.1.0 → the same path) is stale.
      await imageAgent('0.3.0');
      assert.match(await boot(), /app release 0\.3\.0 .* is current \(was 0\.2\.0\)/);
      assert.equal(await current(), 'releases/0.3.0');
      assert.deepEqual((await readdir(join(root(), 'releases'))).sort(), ['0.2.0', '0.3.0']);
      // The operator rolls the app back to 0.2.0 (a signed rollback release): later boots leave it.
      await rm(join(root(), 'current'));
      await symlink(join('releases', '0.2.0'), join(root(), 'current'));
      assert.equal(await boot(), '');
      assert.equal(await current(), 'releases/0.2.0');
    });

    test('a new image with an older agent than the app update leaves the app update current', async () => {
      await appUpdate('0.5.0');
      await imageAgent('0.4.0');
      await boot();
      assert.equal(await current(), 'releases/0.5.0');
    });

    test('a current release that is missing or cannot run is replaced by the image agent', async () => {
      await rm(join(root(), 'releases', '0.5.0'), { recursive: true });
      assert.match(await boot(), /app release 0\.4\.0 .* is current \(was 0\.5\.0\)/);
      assert.equal(await current(), 'releases/0.4.0');
      assert.deepEqual((await readdir(root())).filter((n) => n.startsWith('.current-')), [], 'no temporary link left');
    });

    test('an image agent without a valid version is refused and nothing changes', async () => {
      await writeFile(join(app(), 'VERSION'), 'latest\n');
      await assert.rejects(boot(), (error: Error & { stdout?: string }) => /bad version 'latest'/.test(error.stdout ?? ''));
      assert.equal(await current(), 'releases/0.4.0');
    });
  });

  describe('reboot requests (the unprivileged agent asks, a root unit reboots)', () => {
    const lib = join(overlay, 'usr', 'lib', 'meshnode');
    let dir: string;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchain-reboot-'));
      await writeFile(join(dir, 'boot_id'), 'b0e7f1d2-0000-4000-8000-000000000001\n');
      // The "reboot" records that it ran.
      env = { PATH: process.env.PATH, MESHNODE_OTA_DIR: join(dir, 'ota'), MESHNODE_BOOT_ID_FILE: join(dir, 'boot_id'), MESHNODE_REBOOT: `touch ${join(dir, 'rebooted')}` };
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const rebooted = (): Promise<boolean> => stat(join(dir, 'rebooted')).then(() => true, () => false);

    test('a request from this boot reboots once', async () => {
      await run(join(lib, 'request-reboot'), ['system update 2.0.0'], { env });
      const { stdout } = await run(join(lib, 'reboot-on-request'), [], { env });
      assert.match(stdout, /rebooting at the agent's request \(system update 2\.0\.0\)/);
      assert.equal(await rebooted(), true);
      await rm(join(dir, 'rebooted'));
      assert.equal((await run(join(lib, 'reboot-on-request'), [], { env })).stdout, '', 'the request was consumed');
      assert.equal(await rebooted(), false);
    });

    test('a request left from an earlier boot is dropped without a reboot', async () => {
      await run(join(lib, 'request-reboot'), [], { env });
      await writeFile(join(dir, 'boot_id'), 'b0e7f1d2-0000-4000-8000-000000000002\n');
      const { stdout } = await run(join(lib, 'reboot-on-request'), [], { env });
      assert.match(stdout, /dropped a reboot request from an earlier boot \(system update\)/);
      assert.equal(await rebooted(), false);
      assert.equal(await stat(join(dir, 'ota', 'reboot-request')).then(() => true, () => false), false);
    });
  });

  test('systemd units are well-formed, run files that exist, and the agent runs unprivileged', async () => {
    const dir = join(overlay, 'etc', 'systemd', 'system');
    const units = (await readdir(dir)).filter((f) => f.endsWith('.service') || f.endsWith('.path'));
    assert.deepEqual(units.sort(), ['meshnode-grow.service', 'meshnode-health.service', 'meshnode-reboot.path', 'meshnode-reboot.service', 'meshnode-setup.service', 'meshnode.service']);
    // meshnode-reboot.service is started by its path unit, not at boot.
    const activated = new Set(['meshnode-reboot.service']);
    // The data partition grows before local file systems are mounted.
    const early: Record<string, string> = { 'meshnode-grow.service': 'local-fs.target' };
    for (const unit of units) {
      const u = parseUnit(await readFile(join(dir, unit), 'utf8'));
      assert.ok(u.get('Unit')?.get('Description')?.[0], `${unit}: Description`);
      if (unit.endsWith('.path')) {
        const target = u.get('Path')?.get('Unit')?.[0] ?? '';
        assert.ok(units.includes(target), `${unit}: Unit=${target} exists`);
      } else {
        const exec = u.get('Service')?.get('ExecStart')?.[0] ?? '';
        const bin = exec.split(/\s+/)[0] ?? '';
        assert.ok(bin.startsWith('/usr/lib/meshnode/'), `${unit}: ExecStart ${exec}`);
        await stat(join(overlay, bin)).catch(() => assert.fail(`${unit}: ${bin} is not in the overlay`));
      }
      if (activated.has(unit)) assert.equal(u.get('Install'), undefined, `${unit}: not enabled on its own`);
      else assert.deepEqual(u.get('Install')?.get('WantedBy'), [early[unit] ?? 'multi-user.target'], `${unit}: WantedBy`);
    }
    const agent = parseUnit(await readFile(join(dir, 'meshnode.service'), 'utf8'));
    const service = agent.get('Service');
    assert.equal(service?.get('User')?.[0], 'meshnode');
    assert.equal(service?.get('ProtectSystem')?.[0], 'strict');
    assert.equal(service?.get('ReadWritePaths')?.[0], '/data/meshnode');
    assert.equal(service?.get('CapabilityBoundingSet')?.[0], '');
    assert.equal(service?.get('NoNewPrivileges')?.[0], 'yes');
    assert.ok(agent.get('Unit')?.get('Requires')?.includes('meshnode-setup.service'));
    const grow = parseUnit(await readFile(join(dir, 'meshnode-grow.service'), 'utf8')).get('Unit');
    assert.equal(grow?.get('DefaultDependencies')?.[0], 'no');
    assert.ok(grow?.get('Before')?.[0]?.split(/\s+/).includes('local-fs-pre.target'), 'grows before /data is checked and mounted');
    // OTA: system updates through RAUC, a reboot command the unprivileged agent can run.
    const environment = service?.get('Environment') ?? [];
    assert.ok(environment.includes('MESHNODE_SYSTEM_UPDATES=rauc'), environment.join(' '));
    const reboot = environment.find((e) => e.startsWith('MESHNODE_REBOOT_COMMAND='))?.split('=')[1] ?? '';
    await stat(join(overlay, reboot)).catch(() => assert.fail(`MESHNODE_REBOOT_COMMAND ${reboot} is not in the overlay`));
    assert.deepEqual(service?.get('EnvironmentFile'), ['-/etc/meshnode/ota.env']);
    const sysusers = await readFile(join(overlay, 'usr', 'lib', 'sysusers.d', 'meshnode.conf'), 'utf8');
    assert.match(sysusers, /^u meshnode 850:850 /m);
    // customize.sh enables exactly units that exist (ours or Debian's).
    const customize = await readFile(join(image, 'rootfs', 'customize.sh'), 'utf8');
    const enabled = /systemctl enable ([^\n]+(?:\\\n[^\n]+)*)/.exec(customize)?.[1]?.replace(/\\\n/g, ' ').split(/\s+/).filter((w) => w.endsWith('.service') || w.endsWith('.path')) ?? [];
    for (const name of units) assert.equal(enabled.includes(name), !activated.has(name), `${name} is ${activated.has(name) ? 'not ' : ''}enabled by customize.sh`);
    // The agent's OTA recovery hook and its drop-in (device-agent/systemd/) go into the rootfs.
    assert.match(customize, /device-agent\/systemd\/meshnode-ota-recover\.mjs" "\$root\/usr\/lib\/meshnode\/meshnode-ota-recover\.mjs"/);
    assert.match(customize, /device-agent\/systemd\/ota\.conf" "\$root\/etc\/systemd\/system\/meshnode\.service\.d\/ota\.conf"/);
    const dropIn = parseUnit(await readFile(join(image, '..', 'device-agent', 'systemd', 'ota.conf'), 'utf8'));
    assert.ok(dropIn.get('Service')?.get('ExecStartPre')?.[0]?.includes('/usr/lib/meshnode/meshnode-ota-recover.mjs /data/meshnode/releases'));
    assert.ok(dropIn.get('Service')?.get('Environment')?.includes('MESHNODE_RELEASE_ROOT=/data/meshnode/releases'));
    // SSH is opt-in only: its drop-in requires the owner's keys, keys only.
    const ssh = parseUnit(await readFile(join(dir, 'ssh.service.d', 'meshnode.conf'), 'utf8'));
    assert.deepEqual(ssh.get('Unit')?.get('ConditionPathExists'), ['/data/system/ssh/authorized_keys']);
    const sshd = await readFile(join(overlay, 'etc', 'ssh', 'sshd_config.d', 'meshnode.conf'), 'utf8');
    assert.match(sshd, /^PasswordAuthentication no$/m);
    assert.match(sshd, /^PermitRootLogin prohibit-password$/m);
  });

  test('a unit file with a stray line is rejected by the unit parser', () => {
    assert.throws(() => parseUnit('[Unit]\nDescription=x\nthis is not a key\n'), /not a unit line/);
  });

  describe('fleet and owner configs are valid agent configs', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshchain-image-config-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('image/config/fleet.json and the owner example load with the agent config loader', () => {
      for (const file of [join(image, 'config', 'fleet.json'), join(image, 'boot', 'owner', 'config.json.example')]) {
        const config = loadAgentConfig({ file, env: { MESHNODE_DATA_DIR: '/data/meshnode' } });
        assert.match(config.mqttUrl, /^mqtts?:\/\//, file);
        assert.match(config.controlPlaneId, /^cp/, file);
        assert.equal(config.dataDir, '/data/meshnode');
        assert.equal(config.web.port, 8080, 'the page the image opens is on :8080');
      }
    });

    test('a fleet config without a broker URL is refused', async () => {
      const bad = join(dir, 'fleet.json');
      await writeFile(bad, JSON.stringify({ version: 1, controlPlaneId: 'cpdevelopmentplaceholderaaaa' }));
      assert.throws(() => loadAgentConfig({ file: bad, env: {} }), /invalid meshnode configuration/);
    });
  });
});
