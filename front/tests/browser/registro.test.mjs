// The forms in a real browser against a real `registro serve`: each kind of registration
// reaches the confirmation page and makes exactly one submission (checked with `registro
// admin`), a double click posts once, a changed resubmit gets the rotate page and then a new
// registration, an invalid choice cannot be sent, a server-side error comes back to its field
// with what was typed. Every page is checked with axe and photographed at 360 and 1280 px.

import AxeBuilder from '@axe-core/playwright';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { navegador, servidor } from './entorno.mjs';

const FOTOS = resolve(import.meta.dirname, '../../test-results/screenshots');
const PDF = { name: 'recibo.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') };

let srv;
let browser;
let cat;

before(async () => {
	srv = await servidor({ catalogo: process.env.REGISTRO_TEST_CATALOG || undefined });
	browser = await navegador();
	cat = await (await fetch(`${srv.url}/registro/catalogo`)).json();
	mkdirSync(FOTOS, { recursive: true });
});

after(async () => {
	await browser?.close();
	await srv?.parar();
});

async function pagina(ancho = 1280) {
	const ctx = await browser.newContext({ viewport: { width: ancho, height: 900 }, locale: 'es-MX' });
	const page = await ctx.newPage();
	const errores = [];
	page.on('pageerror', (e) => errores.push(e));
	page.on('console', (m) => m.type() === 'error' && errores.push(new Error(m.text())));
	page.errores = errores;
	return page;
}

/** Test oracle: committees the modality can take with at least three delegations offered. */
function eleccion(modalidad, salto = 0) {
	const ofrecidas = (c) =>
		c.grupos
			.filter((g) => !(modalidad === 'pareja' && (g.solo_individual || c.tipos_solo_individual.includes(g.tipo))))
			.flatMap((g) => g.delegaciones.map((d) => d.valor));
	const abiertos = cat.comites.filter((c) => c.modalidades.includes(modalidad) && ofrecidas(c).length >= 3);
	assert.ok(abiertos.length >= 3, `catalog offers ${modalidad} three committees`);
	return [0, 1, 2].map((k) => {
		const c = abiertos[(k + salto) % abiertos.length];
		return { codigo: c.codigo, opciones: ofrecidas(c).slice(0, 3) };
	});
}

async function persona(page, i, n = 'Ana') {
	await page.fill(`#nombre_${i}`, `${n} ${i}`);
	await page.fill(`#apellido_${i}`, 'Pérez Gómez');
	await page.fill(`#edad_${i}`, '17');
	await page.fill(`#celular_${i}`, '+52 999 123 4567');
	await page.fill(`#correo_${i}`, `ana${i}@example.com`);
	await page.fill(`#ciudad_estado_${i}`, 'Mérida, Yucatán');
	await page.selectOption(`#escolaridad_${i}`, 'Preparatoria');
	await page.fill(`#escuela_${i}`, 'Colegio Montejo');
	await page.fill(`#nombre_contacto_${i}`, 'María Gómez');
	await page.fill(`#celular_contacto_${i}`, '(999) 765-4321');
	await page.fill(`#relacion_contacto_${i}`, 'Madre');
}

async function delegados(page, { modalidad = 'individual', nombre = 'Ana' } = {}) {
	await page.goto(`${srv.url}/registro/delegaciones/`);
	await page.waitForSelector('form');
	await page.selectOption('#modalidad', modalidad);
	await persona(page, 0, nombre);
	if (modalidad === 'pareja') await persona(page, 1, 'Luis');
	for (const [k, c] of eleccion(modalidad).entries()) {
		await page.selectOption(`#comite_${k}`, c.codigo);
		for (const [j, valor] of c.opciones.entries()) await page.selectOption(`#comite_${k}_pais_${j}`, valor);
	}
	await page.setInputFiles('#comprobante', PDF);
	await page.check('#aceptar_reglamento');
}

async function faculty(page, n) {
	await page.goto(`${srv.url}/registro/faculty/`);
	await page.waitForSelector('form');
	await page.fill('#institucion_delegacion_oficial', 'Colegio Montejo');
	await page.fill('#nombre_faculty', 'Laura');
	await page.fill('#apellido_faculty', 'Gómez');
	await page.fill('#celular_faculty', '+52 999 000 1111');
	await page.fill('#correo_faculty', 'laura@example.com');
	await page.fill('#ciudad_estado_faculty', 'Mérida, Yucatán');
	while ((await page.locator('fieldset legend', { hasText: /^Delegado \d+$/ }).count()) < n) {
		await page.click('#agregar');
	}
	for (let i = 0; i < n; i++) {
		await page.fill(`#nombre_d${i}`, `Delegado ${i}`);
		await page.fill(`#apellido_d${i}`, 'López');
		await page.fill(`#edad_d${i}`, String(14 + i));
		await page.fill(`#celular_d${i}`, `99912345${10 + i}`);
		await page.fill(`#correo_d${i}`, `d${i}@example.com`);
		await page.fill(`#ciudad_estado_d${i}`, 'Mérida');
		await page.selectOption(`#escolaridad_d${i}`, 'Secundaria');
		await page.fill(`#escuela_d${i}`, 'Secundaria Técnica 1');
	}
	await page.setInputFiles('#comprobante', PDF);
	await page.check('#aceptar_reglamento');
}

/** Submits and waits for the page the API's 303 leads to. */
async function enviar(page, destino = '**/registro/confirmacion/**') {
	await Promise.all([page.waitForURL(destino), page.click('button[type=submit]')]);
	await page.waitForLoadState('networkidle');
}

async function folio(page) {
	const f = (await page.textContent('[data-testid=folio]'))?.trim();
	assert.match(f ?? '', /^[A-Za-z0-9_-]+$/);
	return f;
}

const ids = () => srv.registros().map((r) => r.submission_id ?? r.id);

/** axe: no serious or critical violation. */
async function accesible(page, que) {
	const r = await new AxeBuilder({ page }).analyze();
	const graves = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	assert.deepEqual(
		graves.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
		[],
		`axe on ${que}`
	);
}

describe('registrations reach the confirmation page, once each', () => {
	it('an individual registration', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page);
		await enviar(page);
		const f = await folio(page);
		const nuevos = ids().filter((x) => !antes.includes(x));
		assert.deepEqual(nuevos, [f]);
		const r = srv.registro(f);
		assert.equal(JSON.stringify(r).includes('individual'), true);
		assert.deepEqual(page.errores, []);
		await page.context().close();
	});

	it('a pair registration', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page, { modalidad: 'pareja' });
		await enviar(page);
		const f = await folio(page);
		assert.deepEqual(ids().filter((x) => !antes.includes(x)), [f]);
		assert.equal(JSON.stringify(srv.registro(f)).includes('Luis 1'), true);
		await page.context().close();
	});

	it('a faculty registration with 5 delegates, rows added and removed in place', async () => {
		const page = await pagina();
		const antes = ids();
		await page.goto(`${srv.url}/registro/faculty/`);
		await page.waitForSelector('form');
		const filas = () => page.locator('fieldset legend', { hasText: /^Delegado \d+$/ }).count();
		const minimo = cat.formulario.min_delegaciones;
		assert.equal(await filas(), minimo);
		assert.equal(await page.isDisabled('#quitar-0'), true, 'cannot go below the minimum');
		// Keyboard: Enter on "Agregar delegado" adds a row and moves focus into it.
		await page.focus('#agregar');
		await page.keyboard.press('Enter');
		assert.equal(await filas(), minimo + 1);
		assert.equal(await page.evaluate(() => document.activeElement?.id), `nombre_d${minimo}`);
		await page.fill(`#nombre_d${minimo}`, 'se queda');
		await page.fill('#nombre_d1', 'se va');
		await page.click('#quitar-1');
		assert.equal(await filas(), minimo);
		assert.equal(await page.inputValue(`#nombre_d${minimo - 1}`), 'se queda', 'later rows move up');
		await faculty(page, 5);
		assert.equal(await page.inputValue('input[name=numero_delegaciones]'), '5');
		await enviar(page);
		const f = await folio(page);
		assert.deepEqual(ids().filter((x) => !antes.includes(x)), [f]);
		const r = JSON.stringify(srv.registro(f));
		for (let i = 0; i < 5; i++) assert.equal(r.includes(`Delegado ${i}`), true, `row ${i} stored`);
		await page.context().close();
	});
});

describe('duplicates and conflicts', () => {
	it('a double click posts once', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page, { nombre: 'Doble' });
		let posts = 0;
		page.on('request', (r) => r.method() === 'POST' && r.url().includes('/registro/delegaciones') && posts++);
		await Promise.all([page.waitForURL('**/registro/confirmacion/**'), page.dblclick('button[type=submit]')]);
		const f = await folio(page);
		assert.equal(posts, 1);
		assert.deepEqual(ids().filter((x) => !antes.includes(x)), [f]);
		await page.context().close();
	});

	it('a resubmit with changed data gets the rotate page, then succeeds with a new key', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page, { nombre: 'Primera' });
		const llave1 = await page.inputValue('input[name=idempotency_key]');
		assert.match(llave1, /^[0-9a-f]{32}$/);
		// The first post is accepted, but its answer never reaches the browser (lost connection,
		// closed laptop): the confirmation page does not run and the key stays in the tab.
		let respuesta;
		await page.route('**/registro/delegaciones', async (r) => {
			respuesta = await r.fetch({ maxRedirects: 0 });
			await r.fulfill({ status: 200, contentType: 'text/html', body: '<title>Sin conexión</title>' });
		});
		await Promise.all([page.waitForURL('**/registro/delegaciones'), page.click('button[type=submit]')]);
		await page.unroute('**/registro/delegaciones');
		assert.equal(respuesta.status(), 303);
		assert.match(respuesta.headers().location, /\/registro\/confirmacion\//);
		const primero = ids().filter((x) => !antes.includes(x));
		assert.equal(primero.length, 1);
		// Back to the form; change a field; send again with the same key.
		await page.goBack();
		await page.waitForSelector('form');
		assert.equal(await page.inputValue('input[name=idempotency_key]'), llave1);
		await page.fill('#nombre_0', 'Segunda 0');
		await page.setInputFiles('#comprobante', PDF);
		await enviar(page, '**/registro/error/**');
		const url = new URL(page.url());
		assert.equal(url.searchParams.get('rotate_idempotency_key'), '1');
		assert.equal(url.searchParams.get('code'), 'registro_existente');
		assert.match(await page.textContent('[data-testid=mensaje]'), /Ya habíamos recibido tu registro/);
		await accesible(page, 'the rotate page');
		// Back to the form: what was typed is there, under a new key.
		await Promise.all([page.waitForURL('**/registro/delegaciones/**'), page.click('text=Volver al formulario')]);
		await page.waitForSelector('form');
		assert.equal(await page.inputValue('#nombre_0'), 'Segunda 0');
		const llave2 = await page.inputValue('input[name=idempotency_key]');
		assert.match(llave2, /^[0-9a-f]{32}$/);
		assert.notEqual(llave2, llave1);
		await page.setInputFiles('#comprobante', PDF);
		await enviar(page);
		const f = await folio(page);
		assert.notEqual(f, primero[0]);
		assert.deepEqual(ids().filter((x) => !antes.includes(x)).sort(), [primero[0], f].sort());
		await page.context().close();
	});
});

describe('invalid input', () => {
	it('an invalid choice cannot be sent', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page, { modalidad: 'pareja' });
		const cerrado = cat.comites.find((c) => !c.modalidades.includes('pareja'));
		assert.ok(cerrado, 'the catalog has a committee closed to pairs');
		assert.equal(await page.locator(`#comite_0 option[value="${cerrado.codigo}"]`).isDisabled(), true);
		// A delegation already taken in another option of the same committee is disabled too.
		const tomada = await page.inputValue('#comite_0_pais_0');
		assert.equal(await page.locator(`#comite_0_pais_1 option[value="${tomada}"]`).isDisabled(), true);
		// Forced through the DOM anyway, the page refuses to post and says where.
		let posts = 0;
		page.on('request', (r) => r.method() === 'POST' && posts++);
		await page.evaluate((codigo) => {
			const s = /** @type {HTMLSelectElement} */ (document.getElementById('comite_0'));
			s.value = codigo;
			s.dispatchEvent(new Event('change', { bubbles: true }));
		}, cerrado.codigo);
		await page.click('button[type=submit]');
		await page.waitForSelector('.resumen[role=alert]');
		assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('resumen')), true);
		assert.match(await page.textContent('.resumen'), /Comité/);
		assert.equal(await page.getAttribute('#comite_0', 'aria-invalid'), 'true');
		assert.equal(posts, 0);
		assert.equal(new URL(page.url()).pathname, '/registro/delegaciones/');
		await accesible(page, 'the delegate form with errors');
		assert.deepEqual(ids().filter((x) => !antes.includes(x)), []);
		await page.context().close();
	});

	it('a server-side error shows the message at the field and keeps what was typed', async () => {
		const page = await pagina();
		const antes = ids();
		await delegados(page, { nombre: 'Servidor' });
		await page.fill('#edad_0', '30');
		// Bypass the page's own check: post the form as it is.
		await Promise.all([
			page.waitForURL('**/registro/error/**'),
			page.evaluate(() => document.querySelector('form')?.submit())
		]);
		const url = new URL(page.url());
		assert.equal(url.searchParams.get('code'), 'edad_invalida');
		assert.equal(url.searchParams.get('campo'), 'edad_0');
		assert.equal(url.searchParams.get('rotate_idempotency_key'), null);
		assert.match(await page.textContent('[data-testid=mensaje]'), /edad debe ser un número entre/);
		assert.equal(await page.textContent('[data-testid=campo]'), 'Edad');
		await Promise.all([page.waitForURL('**/registro/delegaciones/**'), page.click('text=Volver al formulario')]);
		await page.waitForSelector('#edad_0-error');
		assert.match(await page.textContent('#edad_0-error'), /edad debe ser un número entre/);
		assert.equal(await page.getAttribute('#edad_0', 'aria-invalid'), 'true');
		assert.match(await page.getAttribute('#edad_0', 'aria-describedby'), /edad_0-error/);
		assert.equal(await page.evaluate(() => document.activeElement?.id), 'edad_0');
		assert.equal(await page.inputValue('#edad_0'), '30');
		assert.equal(await page.inputValue('#nombre_0'), 'Servidor 0');
		assert.equal(await page.inputValue('#correo_0'), 'ana0@example.com');
		assert.equal(await page.inputValue('#comite_1'), eleccion('individual')[1].codigo);
		await accesible(page, 'the delegate form back from the server');
		assert.deepEqual(ids().filter((x) => !antes.includes(x)), []);
		await page.context().close();
	});
});

describe('every page: axe and 360 px', () => {
	const paginas = [
		['inicio', '/'],
		['registro', '/registro/'],
		['delegaciones', '/registro/delegaciones/'],
		['faculty', '/registro/faculty/'],
		['confirmacion', '/registro/confirmacion/?form=delegaciones&folio=01JDEMOFOLIO0000000000000'],
		['error', '/registro/error/?code=correo_invalido&form=delegaciones&campo=correo_0'],
		['error-rotar', '/registro/error/?rotate_idempotency_key=1&form=faculty&code=registro_existente']
	];
	for (const [nombre, ruta] of paginas) {
		it(nombre, async () => {
			for (const ancho of [360, 1280]) {
				const page = await pagina(ancho);
				await page.goto(`${srv.url}${ruta}`);
				await page.waitForLoadState('networkidle');
				await page.waitForSelector('h1');
				if (ruta.includes('delegaciones/') || ruta.includes('faculty/')) await page.waitForSelector('form');
				if (nombre === 'delegaciones') await page.selectOption('#modalidad', 'pareja');
				const desborde = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
				assert.ok(desborde <= 0, `${nombre} at ${ancho}px overflows by ${desborde}px`);
				await accesible(page, `${nombre} at ${ancho}px`);
				await page.screenshot({ path: join(FOTOS, `${nombre}-${ancho}.png`), fullPage: true });
				assert.deepEqual(page.errores, [], `${nombre}: no page errors`);
				await page.context().close();
			}
		});
	}
});
