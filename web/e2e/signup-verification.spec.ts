import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { account, expect, signUpViaUi, test as base } from './fixtures'
import { RATE_LIMITS, startServer, type Server } from './server'

// Sign-up by e-mail confirmation. Each test has a server of its own that confirms addresses
// (the suite's server signs up at once). Without SMTP the server writes each mail as an .eml
// file into its mail folder, where the tests read the links.
const test = base.extend<{ server: Server }>({
  // eslint-disable-next-line no-empty-pattern
  server: async ({}, use, testInfo) => {
    const server = await startServer({
      log: testInfo.outputPath('socialdevs.log'),
      env: (baseURL, dataDir) => ({
        SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION: 'true',
        SOCIALDEVS_MAIL_DIR: join(dataDir, 'mail'),
        // Links in the mail lead to this server.
        SOCIALDEVS_PUBLIC_URL: baseURL,
        SOCIALDEVS_RATE_LIMITS: `${RATE_LIMITS},signup-email=off`,
      }),
    })
    await use(server)
    await server.stop()
  },
  baseURL: async ({ server }, use) => {
    await use(server.baseURL)
  },
})

interface Mail {
  /** The recipient's address. */
  to: string
  subject: string
  /** The body, decoded. */
  text: string
}

/** Undoes quoted-printable: soft line breaks go, `=XX` are bytes of UTF-8. */
function decodeQuotedPrintable(body: string): string {
  const joined = body.replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3)
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else {
      bytes.push(joined.charCodeAt(i))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Reads an .eml file: its headers (lower-case names, folded lines joined) and its text. */
function readMail(file: string): Mail {
  const raw = readFileSync(file, 'latin1')
  const split = raw.search(/\r?\n\r?\n/)
  const headers: Record<string, string> = {}
  for (const line of raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '')
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase()
  if (!['quoted-printable', '7bit', '8bit'].includes(encoding)) throw new Error(`${file}: cannot read ${encoding} mail`)
  return {
    to: (/<([^>]*)>/.exec(headers.to ?? '')?.[1] ?? headers.to ?? '').toLowerCase(),
    subject: headers.subject ?? '',
    text: encoding === 'quoted-printable' ? decodeQuotedPrintable(body) : Buffer.from(body, 'latin1').toString('utf8'),
  }
}

/** The mails `server` wrote to `address`, oldest first. */
function mailsTo(server: Server, address: string): Mail[] {
  const dir = join(server.dataDir, 'mail')
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.eml'))
  } catch {
    return [] // no mail yet
  }
  return files
    .map((f) => join(dir, f))
    .map((file) => ({ file, time: statSync(file).mtimeMs }))
    .sort((a, b) => a.time - b.time)
    .map(({ file }) => readMail(file))
    .filter((mail) => mail.to === address.toLowerCase())
}

/** The newest mail to `address`, once there are `count` of them. */
async function newestMailTo(server: Server, address: string, count = 1): Promise<Mail> {
  await expect.poll(() => mailsTo(server, address).length, { message: `mails to ${address}` }).toBe(count)
  return mailsTo(server, address)[count - 1]
}

/** The confirmation link of a mail, whose token is 256 bits in base64url. */
function confirmationLink(mail: Mail): string {
  const link = /\bhttps?:\/\/\S+\/verify-email#token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0]
  expect(link, mail.text).toBeDefined()
  expect(link?.split('#token=')[1]).toHaveLength(43)
  return link ?? ''
}

test('signing up by e-mail: check the inbox, the link signs in once, a taken address looks the same', async ({ browser, baseURL, page, server }) => {
  const ada = account('ada', 'Ada Lovelace')
  let inbox = ''
  let link = ''

  await test.step('Ada signs up and is asked to check her inbox, without a session', async () => {
    await signUpViaUi(page, ada)
    const title = page.getByRole('heading', { name: 'Check your inbox', level: 1 })
    await expect(title).toBeVisible()
    await expect(title).toBeFocused()
    const pending = page.getByTestId('signup-pending')
    await expect(pending).toContainText(`We sent a link to ${ada.email}.`)
    await expect(pending).toContainText('within 24 hours')
    await expect(pending).toContainText('Check your spam folder, or sign up again')
    await expect(page.getByRole('button', { name: 'Create account' })).toHaveCount(0)
    await expect(page).toHaveURL(/\/register$/)
    expect(await page.evaluate(() => localStorage.getItem('socialdevs.session'))).toBeNull()
    inbox = await pending.innerText()
  })

  await test.step('the mail holds a link to this server with the token in its fragment', async () => {
    const mail = await newestMailTo(server, ada.email)
    expect(mail.subject).toBe('Confirm your e-mail address for SocialDevs')
    link = confirmationLink(mail)
    expect(link.startsWith(`${baseURL}/verify-email#token=`)).toBe(true)
  })

  await test.step('the link creates her account and opens her home timeline, signed in', async () => {
    const token = link.split('#token=')[1]
    const urls: string[] = []
    page.on('request', (r) => urls.push(r.url()))
    await page.goto(link)
    await expect(page.getByRole('heading', { name: 'Home', level: 1 })).toBeVisible()
    await expect(page).toHaveURL(`${baseURL}/`)
    const me = page.getByRole('link', { name: `Settings for @${ada.username}` })
    await expect(me).toContainText(ada.displayName)
    await expect(me).toContainText(`@${ada.username}`)
    // The token went to the server in the request body only, and left the history.
    expect(urls.filter((u) => u.includes(token))).toEqual([])
    await page.goBack()
    await expect(page).not.toHaveURL(/token=/)
  })

  await test.step('the same link opened again does not work, and offers to sign up again', async () => {
    const context = await browser.newContext({ baseURL })
    const again = await context.newPage()
    await again.goto(link)
    await expect(again.getByRole('heading', { name: 'This link doesn’t work', level: 1 })).toBeVisible()
    await expect(again.getByRole('alert')).toContainText('not valid or has expired')
    await expect(again).toHaveURL(`${baseURL}/verify-email`)
    await again.getByRole('link', { name: 'Sign up again' }).click()
    await expect(again).toHaveURL(/\/register$/)
    await context.close()
  })

  await test.step('signing up again with her address, now taken, shows the very same page', async () => {
    const context = await browser.newContext({ baseURL })
    const other = await context.newPage()
    await signUpViaUi(other, { ...account('notada'), email: ada.email })
    await expect(other.getByRole('heading', { name: 'Check your inbox', level: 1 })).toBeVisible()
    expect(await other.getByTestId('signup-pending').innerText()).toBe(inbox)
    // Only the mail differs: the owner of the address is told it has an account.
    const mail = await newestMailTo(server, ada.email, 2)
    expect(mail.subject).toBe('You already have a SocialDevs account')
    expect(mail.text).not.toContain('verify-email')
    await context.close()
  })
})

test('a link whose username was taken since offers to log in or sign up again', async ({ page, request, server }) => {
  const first = account('twin')
  const second = { ...first, email: `second_${first.email}` }
  for (const a of [first, second]) {
    const res = await request.post('/api/v1/auth/register', { data: { username: a.username, email: a.email, password: a.password } })
    expect(res.status(), await res.text()).toBe(202)
  }
  const token = confirmationLink(await newestMailTo(server, first.email)).split('#token=')[1]
  const confirmed = await request.post('/api/v1/auth/verify-email', { data: { token } })
  expect(confirmed.status(), await confirmed.text()).toBe(201)

  await page.goto(confirmationLink(await newestMailTo(server, second.email)))
  await expect(page.getByRole('heading', { name: 'That name or address is taken', level: 1 })).toBeVisible()
  await expect(page.getByRole('alert')).toContainText('That username is already taken.')
  await expect(page.getByRole('link', { name: 'Log in', exact: true })).toBeVisible()
  await expect(page.getByRole('link', { name: 'Sign up again' })).toBeVisible()
  expect(await page.evaluate(() => localStorage.getItem('socialdevs.session'))).toBeNull()
})
