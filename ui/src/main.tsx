/** The admin UI: sign-in, the navigation, and a hash router (`#/flags/demo`) over the screens. */
import { render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, messageOf, request, session, setUnauthorizedHandler } from './api.ts'
import { AuditScreen } from './audit.tsx'
import { EnvironmentsScreen } from './environments.tsx'
import { EvaluateScreen } from './evaluate.tsx'
import { FlagScreen } from './flag-screen.tsx'
import { FlagsScreen } from './flags-list.tsx'
import { SegmentsScreen } from './segments.tsx'
import { Field } from './ui.tsx'
import './base.css'
import './screens.css'

function useHash(): string {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const update = () => setHash(location.hash)
    addEventListener('hashchange', update)
    return () => removeEventListener('hashchange', update)
  }, [])
  return hash
}

function SignIn(props: { onSignedIn: () => void; notice: string | undefined }) {
  const [token, setToken] = useState('')
  const [actor, setActor] = useState('')
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await request('GET', 'flags', { token, query: { limit: 1 } })
      session.signIn(token, actor.trim())
      props.onSignedIn()
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'Wrong token: the server did not accept it (401). Use the admin token the server printed at start-up.'
          : messageOf(failure),
      )
    } finally {
      setBusy(false)
    }
  }
  return (
    <main id="main" class="signin">
      <h1>flagstone admin</h1>
      {props.notice === undefined ? null : (
        <p class="alert" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={submit} aria-describedby={error === undefined ? undefined : 'signin-error'}>
        <Field label="Admin token" hint="Printed by `npm start`, or FLAGSTONE_ADMIN_TOKEN. Kept in this tab only.">
          {(id, describedBy) => (
            <input
              id={id}
              type="password"
              autocomplete="current-password"
              required
              value={token}
              aria-describedby={describedBy}
              aria-invalid={error !== undefined}
              onInput={(e) => setToken(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field label="Your name (optional)" hint="Recorded in the audit trail as the claimed actor.">
          {(id, describedBy) => (
            <input id={id} value={actor} aria-describedby={describedBy} onInput={(e) => setActor(e.currentTarget.value)} />
          )}
        </Field>
        {error === undefined ? null : (
          <p id="signin-error" class="alert" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  )
}

const NAV = [
  ['flags', 'Flags'],
  ['segments', 'Segments'],
  ['environments', 'Environments'],
  ['evaluate', 'Evaluate'],
  ['audit', 'Audit'],
] as const

function Screen(props: { route: string[] }) {
  const [screen, key] = props.route
  if (screen === 'flags' && key !== undefined) return <FlagScreen flagKey={key} />
  if (screen === 'segments') return <SegmentsScreen />
  if (screen === 'environments') return <EnvironmentsScreen />
  if (screen === 'evaluate') return <EvaluateScreen initialFlag={key} />
  if (screen === 'audit') return <AuditScreen flagKey={key} />
  return <FlagsScreen />
}

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const hash = useHash()
  const route = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((part) => decodeURIComponent(part))
  const main = useRef<HTMLElement>(null)
  useEffect(() => {
    setUnauthorizedHandler(() => {
      session.signOut()
      setNotice('The server no longer accepts your token (401): sign in again.')
      setSignedIn(false)
    })
  }, [])
  // A new screen moves focus to its heading, so keyboard and screen-reader users start there.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus()
  }, [hash, signedIn])
  if (!signedIn) return <SignIn notice={notice} onSignedIn={() => (setNotice(undefined), setSignedIn(true))} />
  const current = route[0] ?? 'flags'
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">flagstone</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([path, label]) => (
              <li key={path}>
                <a href={`#/${path}`} aria-current={current === path ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            session.signOut()
            setNotice('Signed out.')
            setSignedIn(false)
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Screen route={route} />
      </main>
    </>
  )
}

render(<App />, document.getElementById('app')!)
