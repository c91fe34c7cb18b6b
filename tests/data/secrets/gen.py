#!/usr/bin/env python3
"""Generates the secret-scan corpus: positives/ (one fake credential per file, in a realistic context) with
labels.txt (file -> expected rule ids), and negatives/ (decoys that must produce no finding). Seeded, so the
output is reproducible; run from this folder: python3 gen.py. Every value is random and matches a real format
but is not a live credential."""
import base64, json, os, random, shutil, string

R = random.Random(20261128)
UP, LO, DG = string.ascii_uppercase, string.ascii_lowercase, string.digits
AN = UP + LO + DG
URL = AN + "_-"
B64 = AN + "+/"
HEXL = DG + "abcdef"


def rs(chars, n):
    while True:
        v = "".join(R.choice(chars) for _ in range(n))
        low = v.lower()
        # keep generated values clear of the placeholder words the scanner rejects
        if not any(w in low for w in ("test", "xxxx", "your", "here", "fake", "mask", "todo", "pass", "user", "env",
                                      "root", "admin", "str", "none", "null", "secret", "token", "example")):
            return v


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def jwt():
    h = b64url(json.dumps({"alg": R.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode())
    p = b64url(json.dumps({"sub": rs(DG, 8), "iat": 1700000000 + R.randrange(10**7), "role": "ci"}).encode())
    return f"{h}.{p}.{rs(URL, 43)}"


def pem(label, n=12):
    body = "\n".join(rs(B64, 64) for _ in range(n))
    return f"-----BEGIN {label}-----\n{body}\n{rs(B64, 20)}==\n-----END {label}-----\n"


def aws_id(p="AKIA"):
    return p + rs(UP + "234567", 16)


def uuid():
    h = rs(HEXL, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def gcp_sa():
    key = pem("PRIVATE KEY", 4).replace("\n", "\\n")
    return ('{\n  "type": "service_account",\n  "project_id": "ci-%s",\n  "private_key_id": "%s",\n'
            '  "private_key": "%s",\n  "client_email": "ci@ci-%s.iam.gserviceaccount.com"\n}\n'
            % (rs(LO, 6), rs(HEXL, 40), key, rs(LO, 6)))


def docker():
    auth = base64.b64encode(f"ci-bot:{rs(AN, 20)}".encode()).decode()
    return json.dumps({"auths": {"registry.example.io": {"auth": auth}}}, indent=2) + "\n"


def twilio():
    return f'TWILIO_ACCOUNT_SID = "AC{rs(HEXL, 32)}"\nTWILIO_AUTH_TOKEN = "{rs(HEXL, 32)}"\n'


def putty():
    return ("PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: ci\nPublic-Lines: 2\n" + rs(B64, 64) + "\n"
            + rs(B64, 40) + "\nPrivate-Lines: 2\n" + rs(B64, 64) + "\n" + rs(B64, 30) + "\nPrivate-MAC: " + rs(HEXL, 64) + "\n")


# rule -> list of generators returning file text (each yields one secret of that rule)
def P(rule, *gens):
    return rule, gens


def kv(fmt):
    return lambda: fmt()


POS = [
    P("aws-access-key-id", lambda: f"aws_access_key_id = {aws_id()}\n", lambda: f'export AWS_ACCESS_KEY_ID="{aws_id("ASIA")}"\n',
      lambda: f"  - key: {aws_id()}\n"),
    P("aws-secret-access-key", lambda: f"aws_secret_access_key = {rs(B64, 40)}\n",
      lambda: f'AWS_SECRET_ACCESS_KEY="{rs(B64, 40)}"\n', lambda: f'{{"SecretAccessKey": "{rs(B64, 40)}"}}\n'),
    P("gcp-service-account", gcp_sa, gcp_sa),
    P("gcp-api-key", lambda: f'const key = "AIza{rs(URL, 35)}";\n', lambda: f"GOOGLE_MAPS=AIza{rs(URL, 35)}\n"),
    P("gcp-oauth-client-secret", lambda: f'"client_secret": "GOCSPX-{rs(URL, 28)}"\n', lambda: f"oauth: GOCSPX-{rs(URL, 28)}\n"),
    P("azure-storage-account-key",
      lambda: f"DefaultEndpointsProtocol=https;AccountName=ci{rs(LO, 5)};AccountKey={rs(B64, 86)}==;EndpointSuffix=core.windows.net\n",
      lambda: f'conn = "AccountName=x;AccountKey={rs(B64, 86)}=="\n'),
    P("azure-client-secret", lambda: f"AZURE_CLIENT_SECRET={rs(AN, 3)}{R.choice(DG)}Q~{rs(AN + '_.-', 34)}\n",
      lambda: f'"clientSecret": "{rs(AN, 3)}{R.choice(DG)}Q~{rs(AN, 31)}"\n'),
    P("azure-sas-token",
      lambda: f"https://ci.blob.core.windows.net/art?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2027-01-01&sig={rs(AN, 40)}%3D\n",
      lambda: f'url: "https://x.blob.core.windows.net/c/f.zip?sp=r&sv=2021-08-06&sr=b&sig={rs(AN + "%", 44)}"\n'),
    P("github-pat", lambda: f"GITHUB_TOKEN=ghp_{rs(AN, 36)}\n", lambda: f'git clone https://ghp_{rs(AN, 36)}@github.com/o/r\n',
      lambda: f"token: ghp_{rs(AN, 36)}\n"),
    P("github-oauth-token", lambda: f"oauth_token: gho_{rs(AN, 36)}\n", lambda: f'"gho_{rs(AN, 36)}"\n'),
    P("github-user-token", lambda: f"ghu_{rs(AN, 36)}\n", lambda: f"auth ghu_{rs(AN, 36)}\n"),
    P("github-app-token", lambda: f"INSTALL=ghs_{rs(AN, 36)}\n", lambda: f"Authorization: token ghs_{rs(AN, 36)}\n"),
    P("github-refresh-token", lambda: f"refresh: ghr_{rs(AN, 76)}\n", lambda: f"ghr_{rs(AN, 36)}\n"),
    P("github-fine-grained-pat", lambda: f"GH_PAT=github_pat_{rs(AN, 22)}_{rs(AN, 59)}\n",
      lambda: f'pat = "github_pat_{rs(AN, 22)}_{rs(AN, 59)}"\n'),
    P("gitlab-pat", lambda: f"GITLAB_TOKEN=glpat-{rs(URL, 20)}\n", lambda: f"private-token: glpat-{rs(URL, 20)}\n"),
    P("gitlab-pipeline-trigger-token", lambda: f"curl -F token=glptt-{rs(HEXL, 40)} -F ref=main\n",
      lambda: f"TRIGGER=glptt-{rs(HEXL, 40)}\n"),
    P("gitlab-runner-token", lambda: f'  token = "glrt-{rs(URL, 20)}"\n', lambda: f"--token glrt-{rs(URL, 24)}\n"),
    P("gitlab-deploy-token", lambda: f"DEPLOY=gldt-{rs(URL, 20)}\n", lambda: f"gldt-{rs(URL, 20)}\n"),
    P("slack-bot-token", lambda: f"SLACK_BOT_TOKEN=xoxb-{rs(DG, 12)}-{rs(DG, 13)}-{rs(AN, 24)}\n",
      lambda: f'slack: "xoxb-{rs(DG, 11)}-{rs(DG, 12)}-{rs(AN, 24)}"\n'),
    P("slack-user-token", lambda: f"xoxp-{rs(DG, 12)}-{rs(DG, 12)}-{rs(DG, 13)}-{rs(HEXL, 32)}\n",
      lambda: f"SLACK=xoxp-{rs(DG, 11)}-{rs(DG, 11)}-{rs(DG, 12)}-{rs(HEXL, 32)}\n"),
    P("slack-app-token", lambda: f"SLACK_APP_TOKEN=xapp-1-A{rs(UP + DG, 10)}-{rs(DG, 13)}-{rs(HEXL, 64)}\n",
      lambda: f'"xapp-1-A{rs(UP + DG, 10)}-{rs(DG, 13)}-{rs(HEXL, 64)}"\n'),
    P("slack-legacy-token", lambda: f"xoxa-2-{rs(DG, 12)}-{rs(DG, 12)}-{rs(HEXL, 32)}\n",
      lambda: f"legacy: xoxs-{rs(DG, 12)}-{rs(DG, 12)}-{rs(HEXL, 32)}\n"),
    P("slack-webhook-url", lambda: f"https://hooks.slack.com/services/T{rs(UP + DG, 8)}/B{rs(UP + DG, 10)}/{rs(AN, 24)}\n",
      lambda: f'webhook: "https://hooks.slack.com/services/T{rs(UP + DG, 10)}/B{rs(UP + DG, 8)}/{rs(AN, 24)}"\n'),
    P("stripe-secret-key", lambda: f"STRIPE_KEY=sk_live_{rs(AN, 24)}\n", lambda: f'stripe.api_key = "sk_live_{rs(AN, 99)}"\n'),
    P("stripe-restricted-key", lambda: f"rk_live_{rs(AN, 24)}\n", lambda: f"STRIPE_RK=rk_live_{rs(AN, 34)}\n"),
    P("stripe-test-secret-key", lambda: f"STRIPE_TEST=sk_test_{rs(AN, 24)}\n", lambda: f'"sk_test_{rs(AN, 99)}"\n'),
    P("stripe-webhook-secret", lambda: f"STRIPE_WEBHOOK=whsec_{rs(AN, 32)}\n", lambda: f"whsec_{rs(AN, 38)}\n"),
    P("twilio-api-key", lambda: f"TWILIO_API_KEY=SK{rs(HEXL, 32)}\n", lambda: f'"SK{rs(HEXL, 32)}"\n'),
    P("twilio-auth-token", twilio, twilio),
    P("sendgrid-api-key", lambda: f"SENDGRID_API_KEY=SG.{rs(URL, 22)}.{rs(URL, 43)}\n", lambda: f'"SG.{rs(URL, 22)}.{rs(URL, 43)}"\n'),
    P("npm-access-token", lambda: f"NPM=npm_{rs(AN, 36)}\n", lambda: f"npm_{rs(AN, 36)}\n"),
    P("npmrc-auth-token", lambda: f"//registry.npmjs.org/:_authToken={rs(HEXL, 8)}-{rs(HEXL, 4)}-{rs(HEXL, 4)}-{rs(HEXL, 4)}-{rs(HEXL, 12)}\n",
      lambda: f"//npm.pkg.github.com/:_authToken={rs(AN, 40)}\n", lambda: f"//r.internal/:_password={base64.b64encode(rs(AN, 16).encode()).decode()}\n"),
    P("pypi-upload-token", lambda: f"password = pypi-AgEIcHlwaS5vcmc{rs(URL, 120)}\n",
      lambda: f"TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZw{rs(URL, 80)}\n"),
    P("docker-config-auth", docker, docker),
    P("openai-api-key", lambda: f"OPENAI_API_KEY=sk-{rs(AN, 20)}T3BlbkFJ{rs(AN, 20)}\n", lambda: f'openai.api_key = "sk-{rs(AN, 48)}"\n'),
    P("openai-project-key", lambda: f"OPENAI_API_KEY=sk-proj-{rs(URL, 120)}\n", lambda: f"sk-svcacct-{rs(URL, 80)}\n"),
    P("anthropic-api-key", lambda: f"ANTHROPIC_API_KEY=sk-ant-api03-{rs(URL, 93)}AA\n", lambda: f'"sk-ant-admin01-{rs(URL, 93)}AA"\n'),
    P("huggingface-token", lambda: f"HF_TOKEN=hf_{rs(UP + LO, 34)}\n", lambda: f'login("hf_{rs(UP + LO, 34)}")\n'),
    P("mailgun-api-key", lambda: f"MAILGUN_API_KEY=key-{rs(LO + DG, 32)}\n", lambda: f'"key-{rs(LO + DG, 32)}"\n'),
    P("mailchimp-api-key", lambda: f"MAILCHIMP={rs(HEXL, 32)}-us{R.randrange(1, 21)}\n", lambda: f'apikey: "{rs(HEXL, 32)}-us6"\n'),
    P("shopify-access-token", lambda: f"SHOPIFY=shpat_{rs(HEXL, 32)}\n", lambda: f'"shpat_{rs(HEXL, 32)}"\n'),
    P("shopify-custom-app-token", lambda: f"shpca_{rs(HEXL, 32)}\n", lambda: f"X-Shopify-Access-Token: shpca_{rs(HEXL, 32)}\n"),
    P("shopify-private-app-token", lambda: f"shppa_{rs(HEXL, 32)}\n", lambda: f"SHOPIFY_PW=shppa_{rs(HEXL, 32)}\n"),
    P("shopify-shared-secret", lambda: f"shpss_{rs(HEXL, 32)}\n", lambda: f"SHOPIFY_SHARED=shpss_{rs(HEXL, 32)}\n"),
    P("square-access-token", lambda: f"SQUARE=EAAA{rs(URL, 60)}\n", lambda: f"sq0atp-{rs(URL, 22)}\n"),
    P("square-oauth-secret", lambda: f"SQUARE_APP_SECRET=sq0csp-{rs(URL, 43)}\n", lambda: f'"sq0csp-{rs(URL, 43)}"\n'),
    P("heroku-api-key", lambda: f"HEROKU_API_KEY={uuid()}\n", lambda: f"heroku: HRKU-{rs(URL, 60)}\n"),
    P("digitalocean-pat", lambda: f"DIGITALOCEAN_TOKEN=dop_v1_{rs(HEXL, 64)}\n", lambda: f'"dop_v1_{rs(HEXL, 64)}"\n'),
    P("digitalocean-oauth-token", lambda: f"doo_v1_{rs(HEXL, 64)}\n", lambda: f"DO_OAUTH=doo_v1_{rs(HEXL, 64)}\n"),
    P("digitalocean-refresh-token", lambda: f"dor_v1_{rs(HEXL, 64)}\n", lambda: f"DO_REFRESH=dor_v1_{rs(HEXL, 64)}\n"),
    P("databricks-token", lambda: f"DATABRICKS_TOKEN=dapi{rs(HEXL, 32)}\n", lambda: f'"dapi{rs(HEXL, 32)}-2"\n'),
    P("atlassian-api-token", lambda: f"JIRA_API_TOKEN=ATATT3{rs(URL, 180)}={rs(UP + DG, 8)}\n", lambda: f"ATATT3{rs(URL, 186)}\n"),
    P("discord-bot-token", lambda: f"DISCORD_BOT_TOKEN=M{rs(AN, 25)}.{rs(URL, 6)}.{rs(URL, 38)}\n",
      lambda: f'discord_token = "N{rs(AN, 23)}.{rs(URL, 6)}.{rs(URL, 27)}"\n'),
    P("discord-webhook-url", lambda: f"https://discord.com/api/webhooks/{rs(DG, 18)}/{rs(URL, 68)}\n",
      lambda: f'hook: "https://discordapp.com/api/webhooks/{rs(DG, 19)}/{rs(URL, 68)}"\n'),
    P("telegram-bot-token", lambda: f"TELEGRAM_BOT_TOKEN={rs(DG, 10)}:AA{rs(URL, 33)}\n", lambda: f'bot = Bot("{rs(DG, 9)}:AA{rs(URL, 33)}")\n'),
    P("hashicorp-vault-token", lambda: f"VAULT_TOKEN=hvs.{rs(URL, 24)}\n", lambda: f"hvs.{rs(URL, 90)}\n"),
    P("newrelic-user-api-key", lambda: f"NEW_RELIC_API_KEY=NRAK-{rs(UP + DG, 27)}\n", lambda: f'"NRAK-{rs(UP + DG, 27)}"\n'),
    P("postman-api-key", lambda: f"POSTMAN=PMAK-{rs(HEXL, 24)}-{rs(HEXL, 34)}\n", lambda: f"PMAK-{rs(HEXL, 24)}-{rs(HEXL, 34)}\n"),
    P("age-secret-key", lambda: f"AGE-SECRET-KEY-1{rs('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58)}\n",
      lambda: f"# created: 2026\nAGE-SECRET-KEY-1{rs('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58)}\n"),
    P("linear-api-key", lambda: f"LINEAR=lin_api_{rs(AN, 40)}\n", lambda: f'"lin_api_{rs(AN, 40)}"\n'),
    P("pulumi-access-token", lambda: f"PULUMI_ACCESS_TOKEN=pul-{rs(HEXL, 40)}\n", lambda: f"pul-{rs(HEXL, 40)}\n"),
    P("doppler-token", lambda: f"DOPPLER_TOKEN=dp.pt.{rs(AN, 43)}\n", lambda: f"dp.pt.{rs(AN, 43)}\n"),
    P("grafana-cloud-token", lambda: f"GRAFANA=glc_{rs(B64, 100)}=\n", lambda: f"glsa_{rs(AN, 32)}_{rs(HEXL, 8)}\n"),
    P("sentry-auth-token", lambda: f"SENTRY_AUTH_TOKEN=sntrys_{rs(B64, 120)}\n", lambda: f"sntrys_{rs(AN, 80)}\n"),
    P("private-key-rsa", lambda: pem("RSA PRIVATE KEY"), lambda: "key: |\n  " + pem("RSA PRIVATE KEY").replace("\n", "\n  ")),
    P("private-key-ec", lambda: pem("EC PRIVATE KEY", 3), lambda: pem("EC PRIVATE KEY", 4)),
    P("private-key-dsa", lambda: pem("DSA PRIVATE KEY", 8), lambda: pem("DSA PRIVATE KEY", 9)),
    P("private-key-openssh", lambda: pem("OPENSSH PRIVATE KEY", 6), lambda: pem("OPENSSH PRIVATE KEY", 7)),
    P("private-key-encrypted", lambda: pem("ENCRYPTED PRIVATE KEY", 10), lambda: pem("ENCRYPTED PRIVATE KEY", 11)),
    P("private-key-pgp", lambda: pem("PGP PRIVATE KEY BLOCK", 20).replace("BLOCK-----\n", "BLOCK-----\nVersion: GnuPG v2\n\n", 1),
      lambda: pem("PGP PRIVATE KEY BLOCK", 15)),
    P("private-key-pkcs8", lambda: pem("PRIVATE KEY"), lambda: 'KEY = "' + pem("PRIVATE KEY", 4).replace("\n", "\\n") + '"\n'),
    P("private-key-putty", putty, putty),
    P("jwt", lambda: f"Authorization: Bearer {jwt()}\n", lambda: f'session = "{jwt()}"\n', lambda: f"{jwt()}\n"),
    P("postgres-url-password", lambda: f"DATABASE_URL=postgres://ci:{rs(AN, 16)}@db.internal:5432/app\n",
      lambda: f'url = "jdbc:postgresql://app:{rs(AN, 12)}@10.0.0.5/main"\n'),
    P("mysql-url-password", lambda: f"mysql://root2:{rs(AN, 14)}@mysql:3306/db\n", lambda: f"DB=mariadb://app:{rs(AN, 14)}@db/x\n"),
    P("mongodb-url-password", lambda: f"MONGO_URI=mongodb+srv://app:{rs(AN, 20)}@cluster0.ab1cd.mongodb.net/db\n",
      lambda: f"mongodb://ci:{rs(AN, 12)}@mongo:27017\n"),
    P("redis-url-password", lambda: f"REDIS_URL=redis://default:{rs(AN, 24)}@redis:6379/0\n", lambda: f"rediss://:{rs(AN, 24)}@cache.internal:6380\n"),
    P("amqp-url-password", lambda: f"AMQP_URL=amqp://app:{rs(AN, 16)}@rabbit:5672/vh\n", lambda: f"amqps://ci:{rs(AN, 16)}@mq.internal\n"),
    P("ftp-url-password", lambda: f"ftp://deploy:{rs(AN, 12)}@ftp.internal/www\n", lambda: f"sftp://ci:{rs(AN, 12)}@files.internal:22/\n"),
    P("smtp-url-password", lambda: f"MAIL_URL=smtp://mailer:{rs(AN, 16)}@smtp.internal:587\n", lambda: f"smtps://ci:{rs(AN, 16)}@mail.internal\n"),
    P("ldap-url-password", lambda: f"ldap://binder:{rs(AN, 16)}@ldap.internal\n", lambda: f"LDAP=ldaps://ci:{rs(AN, 16)}@ad.internal:636\n"),
    P("mssql-url-password", lambda: f"mssql://sa2:{rs(AN, 16)}@sql.internal:1433/db\n", lambda: f"sqlserver://app:{rs(AN, 16)}@sql\n"),
    P("url-basic-auth", lambda: f"pip install --index-url https://ci:{rs(AN, 16)}@pypi.internal/simple pkg\n",
      lambda: f'repo: "http://deploy:{rs(AN, 16)}@nexus.internal/repo"\n'),
    P("generic-password", lambda: f'DB_PASSWORD="{rs(AN + "!#%", 14)}"\n', lambda: f"password: {rs(AN, 12)}9\n",
      lambda: f'    "password": "{rs(AN, 16)}",\n', lambda: f"  <add key=\"x\" /> passwd={rs(AN, 10)}7\n"),
    P("generic-secret", lambda: f'SECRET_KEY = "{rs(AN + "!@#%^&*", 50)}"\n', lambda: f"client_secret: {rs(AN, 32)}\n",
      lambda: f'app.config["SECRET"] = "{rs(AN, 24)}"\n'),
    P("generic-token", lambda: f'API_TOKEN = "{rs(AN, 32)}"\n', lambda: f"auth_token: {rs(HEXL, 48)}\n",
      lambda: f'{{"access_token": "{rs(AN + "-_", 40)}"}}\n'),
    P("generic-api-key", lambda: f'API_KEY = "{rs(AN, 32)}"\n', lambda: f"apiKey: {rs(AN, 28)}\n",
      lambda: f'"access_key": "{rs(AN, 20)}"\n'),
]


NEG = [
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE\n",
    "password = changeme\n", 'password: "your-password-here"\n', "token: <TOKEN>\n", "api_key = ${API_KEY}\n",
    "secret: {{ vault_secret }}\n", 'token = "xxxxxxxxxxxxxxxxxxxxxxxx"\n', "password: ********\n",
    'password = "dummy"\n', "password: test\n", 'secret = "example-secret-value"\n', 'api_key: "sample"\n',
    "token: REDACTED\n", "password: null\n", "password: none\n", "secret: true\n", "password: false\n",
    'password = os.environ["DB_PASSWORD"]\n', 'token = os.getenv("GITHUB_TOKEN")\n', "const apiKey = process.env.API_KEY;\n",
    'password = ENV["DB_PASSWORD"]\n', "export TOKEN=$(cat /run/secrets/token)\n", "token: ${{ secrets.GITHUB_TOKEN }}\n",
    "password = settings.DATABASE_PASSWORD\n", "secret_key = config.SECRET_KEY\n", "self.token = token\n",
    "if password == confirm_password:\n", "token_url = https://oauth2.googleapis.com/token\n",
    "password_file = /run/secrets/db_password\n", "secret_name: prod/db/credentials\n", "token_type: Bearer\n",
    "max_tokens = 4096\n", "tokenizer = AutoTokenizer.from_pretrained(name)\n", "PASSWORD_MIN_LENGTH = 12\n",
    'git_sha: "9fceb02d0ae598e95dc970b74767f19372d61af8"\n', "commit 3f786850e387550fdab836ed7e6dc881de23001b\n",
    'token = "da39a3ee5e6b4b0d3255bfef95601890afd80709"\n',
    '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg=="\n',
    'resolved "https://registry.yarnpkg.com/x/-/x-1.0.0.tgz#abc" integrity sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n',
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC" + "".join(R.choice(B64) for _ in range(300)) + " ci@host\n",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "".join(R.choice(B64) for _ in range(43)) + " ci@host\n",
    "dummy_secret_value_for_tests = 1\n",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----\n",
    "header = '-----BEGIN OPENSSH PRIVATE KEY-----'\n",
    "https://user:password@example.com/\n", "postgres://user:${DB_PASSWORD}@db/app\n", "mysql://root:<password>@localhost/db\n",
    "redis://:****@redis:6379\n", "https://github.com/mrun/mrun.git\n", "mongodb://localhost:27017/db\n",
    "amqp://guest:guest@localhost\n", "http://$USER:$PASS@proxy:3128\n", "ftp://anonymous:@ftp.debian.org/\n",
    "git@github.com:org/repo.git\n",
    'jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"\n',
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "GITHUB_TOKEN=ghp_your_token_here\n", "glpat-XXXXXXXXXXXXXXXXXXXX\n",
    "xoxb-your-bot-token\n", "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\n", "sk_test_4eC39HqLyjWDarjtT1zdp7dc\n",
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\n",
    "npm_config_registry=https://registry.npmjs.org/\n", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
    '{"auths": {"ghcr.io": {"credsStore": "desktop"}}}\n', 'hf_hub_download(repo_id="gpt2", filename="config.json")\n',
    "const mask = new Mask(); function skip_frame(){}\n", "key-value store\n", "monkey-patch\n",
    "the -us flag\n", "dapi_version = 2\n", "class Discord: pass\n", "discord.py==2.3.2\n",
    "time: 12:34:56 AA\n", "SKIP_TESTS=1\n", "ACCEPT=application/json\n", "EAAA\n",
    "AIzaSy...\n", "-----BEGIN CERTIFICATE-----\n" + "\n".join("".join(R.choice(B64) for _ in range(64)) for _ in range(10)) + "\n-----END CERTIFICATE-----\n",
    "-----BEGIN PUBLIC KEY-----\n" + "\n".join("".join(R.choice(B64) for _ in range(64)) for _ in range(6)) + "\n-----END PUBLIC KEY-----\n",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join("".join(R.choice(B64) for _ in range(64)) for _ in range(8)) + "\n-----END PGP PUBLIC KEY BLOCK-----\n",
    "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join("".join(R.choice(B64) for _ in range(64)) for _ in range(5)) + "\n-----END CERTIFICATE REQUEST-----\n",
    "password_hash = $2b$12$KIXQJ8mQ7W2S0bqvZC5fUeGm8vDqk9Gz0XhL3yN6pTqR1sWcF4aB2\n",
    "api_key_id: 0f8fad5b-d9cb-469f-a165-70867728950e\n", "token: 123e4567-e89b-12d3-a456-426614174000\n",
    "request_id=550e8400-e29b-41d4-a716-446655440000\n", "password_required: true\n",
    "set password to the value of --password-file\n", "Please enter your password:\n",
    'if (token.length < 16) throw new Error("token too short")\n', "secret = get_secret(name)\n",
    "access_key = aws_creds.access_key\n", 'password = input("Password: ")\n', "token = args.token\n",
    "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n", "api_key = credentials['api_key']\n",
    "PRIVATE_KEY_PATH=/etc/ssl/private/ci.key\n", "secret: mysecret\n", "password: admin\n", "password: root\n",
    "token: abc\n", "secret := getSecret()\n", "password => $password,\n", "apikey: $APIKEY\n",
    "privateKey: fs.readFileSync(keyPath)\n", "SECRET_KEY=os.environ.get('SECRET_KEY', '')\n",
    "# TODO: rotate the token\n",
    # false positives seen scanning /usr and /etc, kept as regressions
    "    _token_terminator = r'(?=\\^?[%s]|[%s%s])' % (_ws, _punct, _nl)\n",
    "    std::string passwd = callback->call(static_cast<std::size_t>(size),\n",
    "//     %sudo ALL=(root) NOPASSWD: /bin/systemctl restart apt-cacher-ng.service\n",
    '    backend: "Backend", private_key: "_EllipticCurvePrivateKey", data: bytes\n',
    "    .. _`Bearer Token`: https://tools.ietf.org/html/rfc6750\n",
    "    eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzb21lIjoicGF5bG9hZCJ9.4twFt5NiznN84AWoo1d7KO1T_yoc0Z6XOpOVswacPZg\n",
    "//somewhere-else.com/myorg/:_authToken=MYTOKEN1\n", "  password: 'bm90IG15IHJlYWwgcGFzc3dvcmQ=',\n",
    "#password_encryption = scram-sha-256\t# scram-sha-256 or md5\n",
    "# com.sun.management.jmxremote.password.toHashes = true|false\n",
    '            "access_token":"2YotnFZFEjr1zCsicMWpAA",\n',
    '    const char *const env[] = {"API_TOKEN=sk-live-1234567890abcdef", "PLAIN=visible"};\n',
    '/* "type": "service_account" with a "private_key": "-----BEGIN..." in the same file. */\n', "tokens = tokenize(text)\n", "passwordless login\n", "secretary: Jane\n",
]


# Known misses, labelled anyway so the measured recall stays honest (see docs/checks.md, "What it misses").
HARD_POS = [
    ("generic-password", lambda: f"<password>{rs(AN, 12)}9</password>\n"),           # XML element: no = or :
    ("generic-token", lambda: f"GITHUB_TOKEN={rs(HEXL, 40)}\n"),                     # 40 hex reads as a git SHA
    ("generic-password", lambda: "password: CorrectHorseBatteryStaple\n"),           # letters only, few case changes
    ("generic-password", lambda: f"DB_PASS={rs(AN, 12)}7\n"),                        # "pass" is not a keyword
    ("generic-password", lambda: f"mysql -u ci --password {rs(AN, 12)}3 db\n"),      # command-line flag
]
# Known false positives: RFC example values in library docstrings.
HARD_NEG = ['            oauth_token="ad180jjd733klru7",\n']


def negatives_generated():
    out = []
    for _ in range(6):
        out.append("<img src=\"data:image/png;base64," + base64.b64encode(bytes(R.randrange(256) for _ in range(900))).decode() + "\">\n")
    for _ in range(6):
        parts = []
        for _ in range(60):
            v = rs(LO, R.randrange(1, 3))
            parts.append(f"var {v}=function(a,b){{return a.{rs(LO, 3)}(b)||{R.randrange(99)}}};")
        out.append("".join(parts) + "\n")
    for _ in range(6):
        out.append("\n".join(f"{rs(HEXL, 40)} refs/heads/{rs(LO, 6)}" for _ in range(5)) + "\n")
    for _ in range(6):
        out.append("\n".join(f'  "{rs(LO, 6)}": {{"version": "1.{R.randrange(9)}.0", "integrity": "sha512-'
                             + base64.b64encode(bytes(R.randrange(256) for _ in range(64))).decode() + '"}' for _ in range(4)) + "\n")
    for _ in range(6):
        out.append("\n".join(f"id = \"{uuid()}\"" for _ in range(4)) + "\n")
    for _ in range(4):
        out.append("sha256sums=(" + " ".join(f"'{rs(HEXL, 64)}'" for _ in range(3)) + ")\n")
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in ("positives", "negatives"):
        shutil.rmtree(os.path.join(here, d), ignore_errors=True)
        os.makedirs(os.path.join(here, d))
    labels = []
    for rule, gens in POS:
        for k, g in enumerate(gens):
            name = f"{rule}-{k + 1}.txt"
            with open(os.path.join(here, "positives", name), "w") as f:
                f.write("# fixture: fake credential, not live\n" + g())
            labels.append(f"{name} {rule}")
    for k, (rule, g) in enumerate(HARD_POS):
        name = f"hard-{k + 1}.txt"
        with open(os.path.join(here, "positives", name), "w") as f:
            f.write(g())
        labels.append(f"{name} {rule}")
    with open(os.path.join(here, "labels.txt"), "w") as f:
        f.write("# positives/<file> <expected rule id>... (generated by gen.py)\n" + "\n".join(labels) + "\n")
    negs = NEG + HARD_NEG + negatives_generated()
    for k, text in enumerate(negs):
        with open(os.path.join(here, "negatives", f"decoy-{k + 1:03d}.txt"), "w") as f:
            f.write(text)
    print(f"{len(labels)} positives, {len(negs)} negatives")


if __name__ == "__main__":
    main()
