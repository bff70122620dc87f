// What the browser tests run against: a real `registro serve` (the binary cargo built) on
// 127.0.0.1 with a fresh data directory, serving this front's build, and Debian's Chromium
// driven by playwright-core. Both are stopped by the test that started them.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const RAIZ = resolve(import.meta.dirname, '../../..');
export const BINARIO = resolve(RAIZ, process.env.REGISTRO_BIN ?? 'target/debug/registro');
export const FRONT = resolve(RAIZ, 'front/build');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Starts `registro serve` on a free port; resolves once it logged its address. */
export async function servidor({ catalogo } = {}) {
	for (const [que, ruta] of [
		['registro binary (cargo build -p registro)', BINARIO],
		['front build (npm run build)', join(FRONT, 'index.html')]
	]) {
		if (!existsSync(ruta)) throw new Error(`missing ${que}: ${ruta}`);
	}
	const datos = mkdtempSync(join(tmpdir(), 'registro-navegador-'));
	const args = ['serve', '--addr', '127.0.0.1:0', '--data-dir', datos, '--front-dir', FRONT];
	if (catalogo) args.push('--catalog', catalogo);
	const proc = spawn(BINARIO, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } });
	let salida = '';
	const url = await new Promise((ok, mal) => {
		const plazo = setTimeout(() => mal(new Error(`registro serve did not start:\n${salida}`)), 30_000);
		const leer = (b) => {
			salida += b.toString();
			const m = /"addr":"([^"]+)"/.exec(salida);
			if (m) {
				clearTimeout(plazo);
				ok(`http://${m[1]}`);
			}
		};
		proc.stdout.on('data', leer);
		proc.stderr.on('data', leer);
		proc.on('exit', (code) => mal(new Error(`registro serve exited (${code}):\n${salida}`)));
	});
	return {
		url,
		datos,
		/** `registro admin list --json` on the server's data directory. */
		registros() {
			return JSON.parse(execFileSync(BINARIO, ['admin', 'list', '--json', '--data-dir', datos], { encoding: 'utf8' }));
		},
		/** `registro admin show <id>`. */
		registro(id) {
			return JSON.parse(execFileSync(BINARIO, ['admin', 'show', id, '--data-dir', datos], { encoding: 'utf8' }));
		},
		async parar() {
			if (proc.exitCode === null) {
				const fin = new Promise((ok) => proc.once('exit', ok));
				proc.kill('SIGTERM');
				await fin;
			}
			rmSync(datos, { recursive: true, force: true });
		}
	};
}

export async function navegador() {
	if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync'
		]
	});
}
