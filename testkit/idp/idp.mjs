// A real OpenID Connect provider for Cloakroom's SSO tests (npm oidc-provider), on
// 127.0.0.1 only. Its development login page accepts any login name and password; the
// login name decides the groups: "owner-…" is in cloakroom-owners, anyone else in none.
// Usage: node idp.mjs <port> <client id> <client secret> <redirect uri>
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error('usage: node idp.mjs <port> <client id> <client secret> <redirect uri>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  // The groups claim comes with scope openid, in the ID token itself.
  claims: { openid: ['sub', 'groups'] },
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, groups: id.startsWith('owner-') ? ['cloakroom-owners'] : [] }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['cloakroom-test-idp-only'] },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${issuer}`));
