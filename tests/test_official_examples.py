"""Every example of the official Python SDK README, verbatim, against the local server.

Each test runs the README's code as written (``Client()`` configured from the official
environment variables) and asserts what the README's text promises. The GDBQL examples
need the GDBQL engine of the local server.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from genesisdb import Client
from genesisdb.errors import PreconditionFailedError

pytestmark = pytest.mark.usefixtures("env")


async def commit_readme_batch(client):
    # The README's commit example, verbatim.
    await client.commit_events([
        {
            'source': 'io.genesisdb.app',
            'subject': '/customer',
            'type': 'io.genesisdb.app.customer-added',
            'data': {
                'firstName': 'Bruce',
                'lastName': 'Wayne',
                'emailAddress': 'bruce.wayne@enterprise.wayne'
            }
        },
        {
            'source': 'io.genesisdb.app',
            'subject': '/customer',
            'type': 'io.genesisdb.app.customer-added',
            'data': {
                'firstName': 'Alfred',
                'lastName': 'Pennyworth',
                'emailAddress': 'alfred.pennyworth@enterprise.wayne'
            }
        },
        {
            'source': 'io.genesisdb.store',
            'subject': '/article',
            'type': 'io.genesisdb.store.article-added',
            'data': {
                'name': 'Tumbler',
                'color': 'black',
                'price': 2990000.00
            }
        },
        {
            'source': 'io.genesisdb.app',
            'subject': '/customer/fed2902d-0135-460d-8605-263a06308448',
            'type': 'io.genesisdb.app.customer-personaldata-changed',
            'data': {
                'firstName': 'Angus',
                'lastName': 'MacGyver',
                'emailAddress': 'angus.macgyer@phoenix.foundation'
            }
        }
    ])


async def test_commit_then_stream_customers():
    # Initialize the Genesis DB client
    client = Client()
    await commit_readme_batch(client)

    # Stream all events for a subject
    events = await client.stream_events('/customer')

    # The two customers come back in commit order, and /customer covers /customer/<id>.
    assert [e.data['firstName'] for e in events] == ['Bruce', 'Alfred', 'Angus']
    assert [e.subject for e in events] == [
        '/customer', '/customer', '/customer/fed2902d-0135-460d-8605-263a06308448']
    assert events[0].data == {
        'firstName': 'Bruce', 'lastName': 'Wayne', 'emailAddress': 'bruce.wayne@enterprise.wayne'}
    assert events[0].type == 'io.genesisdb.app.customer-added'
    assert events[0].source == 'io.genesisdb.app'
    for e in events:
        assert e.specversion == '1.0'
        assert e.datacontenttype == 'application/json'
        assert isinstance(e.id, str) and len(e.id) == 36
        assert e.time.endswith('Z')
        assert len(e.hash) == 64 and len(e.predecessorhash) == 64
    # one global hash chain, starting from 64 zeros
    assert events[0].predecessorhash == '0' * 64
    assert events[1].predecessorhash == events[0].hash

    articles = await client.stream_events('/article')
    assert len(articles) == 1
    assert articles[0].data == {'name': 'Tumbler', 'color': 'black', 'price': 2990000.00}
    await client.aclose()


async def test_stream_with_lower_bound_inclusive():
    client = Client()
    await commit_readme_batch(client)
    everything = await client.stream_events('/')
    assert len(everything) == 4
    first_id = everything[0].id

    events = await client.stream_events('/', {
        'lower_bound': first_id,
        'include_lower_bound_event': True
    })
    assert [e.id for e in events] == [e.id for e in everything]

    # The bound is exclusive without the flag.
    events = await client.stream_events('/', {'lower_bound': first_id})
    assert [e.id for e in events] == [e.id for e in everything[1:]]
    await client.aclose()


async def test_stream_latest_by_event_type():
    client = Client()
    updates = []
    for subject in ('/customer/1', '/customer/2'):
        for n in range(3):
            updates.append({
                'source': 'io.genesisdb.app',
                'subject': subject,
                'type': 'io.genesisdb.app.customer-updated',
                'data': {'n': n, 'subject': subject},
            })
    updates.append({
        'source': 'io.genesisdb.app',
        'subject': '/customer/1',
        'type': 'io.genesisdb.app.customer-added',
        'data': {'n': 99},
    })
    await client.commit_events(updates[:2])
    await client.commit_events(updates[2:])

    events = await client.stream_events('/', {
        'latest_by_event_type': 'io.genesisdb.app.customer-updated'
    })
    # only the latest event of that type, once per subject
    assert sorted((e.subject, e.data['n']) for e in events) == [('/customer/1', 2), ('/customer/2', 2)]
    assert all(e.type == 'io.genesisdb.app.customer-updated' for e in events)
    await client.aclose()


USER_456 = {
    'source': 'io.genesisdb.app',
    'subject': '/user/456',
    'type': 'io.genesisdb.app.user-created',
    'data': {
        'firstName': 'John',
        'lastName': 'Doe',
        'email': 'john.doe@example.com'
    }
}


async def test_precondition_is_subject_new():
    client = Client()

    async def commit_user():
        await client.commit_events([
            {
                'source': 'io.genesisdb.app',
                'subject': '/user/456',
                'type': 'io.genesisdb.app.user-created',
                'data': {
                    'firstName': 'John',
                    'lastName': 'Doe',
                    'email': 'john.doe@example.com'
                }
            }
        ], [
            {
                'type': 'isSubjectNew',
                'payload': {
                    'subject': '/user/456'
                }
            }
        ])

    await commit_user()
    # "If a precondition fails, the commit returns HTTP 412 (Precondition Failed) with details
    # about which condition failed."
    with pytest.raises(PreconditionFailedError) as info:
        await commit_user()
    assert info.value.status == 412
    assert info.value.precondition_type == 'isSubjectNew'
    # nothing was written by the failed commit
    assert len(await client.stream_events('/user/456')) == 1
    await client.aclose()


async def test_precondition_query_uniqueness():
    client = Client()

    async def commit_user():
        await client.commit_events([
            {
                'source': 'io.genesisdb.app',
                'subject': '/user/456',
                'type': 'io.genesisdb.app.user-created',
                'data': {
                    'firstName': 'John',
                    'lastName': 'Doe',
                    'email': 'john.doe@example.com'
                }
            }
        ], [
            {
                'type': 'isQueryResultTrue',
                'payload': {
                    'query': "STREAM e FROM events WHERE e.data.email == 'john.doe@example.com' MAP COUNT() == 0"
                }
            }
        ])

    await commit_user()  # no user with that email yet: passes
    with pytest.raises(PreconditionFailedError) as info:
        await commit_user()  # the email is taken now
    assert info.value.status == 412
    assert info.value.precondition_type == 'isQueryResultTrue'
    assert len(await client.stream_events('/user/456')) == 1
    await client.aclose()


async def test_precondition_business_rule_verbatim():
    client = Client()
    # Verbatim: the README's query filters on e.type == 'transaction-processed' while the
    # committed type is 'io.genesisdb.banking.transaction-processed', so the sum stays 0
    # and the rule holds every time.
    for _ in range(3):
        await client.commit_events([
            {
                'source': 'io.genesisdb.banking',
                'subject': '/user/123/transactions',
                'type': 'io.genesisdb.banking.transaction-processed',
                'data': {
                    'amount': 500.00,
                    'currency': 'EUR'
                }
            }
        ], [
            {
                'type': 'isQueryResultTrue',
                'payload': {
                    'query': "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000"
                }
            }
        ])
    assert len(await client.stream_events('/user/123')) == 3
    await client.aclose()


async def test_precondition_business_rule_enforced():
    # The same rule on the type actually committed: 20 x 500 reach the 10000 limit, the 21st fails.
    client = Client()
    rule = {
        'type': 'isQueryResultTrue',
        'payload': {
            'query': "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000"
        }
    }
    tx = {
        'source': 'io.genesisdb.banking',
        'subject': '/user/123/transactions',
        'type': 'transaction-processed',
        'data': {'amount': 500.00, 'currency': 'EUR'}
    }
    for _ in range(20):
        await client.commit_events([tx], [rule])
    with pytest.raises(PreconditionFailedError) as info:
        await client.commit_events([tx], [rule])
    assert info.value.status == 412
    assert len(await client.stream_events('/user/123')) == 20
    await client.aclose()


async def test_precondition_complex_aggregation():
    client = Client()
    await client.commit_events([
        {
            'source': 'io.genesisdb.events',
            'subject': '/conference/2024/registrations',
            'type': 'io.genesisdb.events.registration-created',
            'data': {
                'attendeeId': 'att-789',
                'ticketType': 'premium'
            }
        }
    ], [
        {
            'type': 'isQueryResultTrue',
            'payload': {
                'query': "STREAM e FROM events WHERE e.subject UNDER '/conference/2024/registrations' AND e.type == 'registration-created' GROUP BY e.data.ticketType HAVING e.data.ticketType == 'premium' MAP COUNT() < 50"
            }
        }
    ])
    events = await client.stream_events('/conference/2024/registrations')
    assert [e.data for e in events] == [{'attendeeId': 'att-789', 'ticketType': 'premium'}]
    await client.aclose()


async def test_gdpr_store_as_reference_and_erase():
    client = Client()
    await client.commit_events([
        {
            'source': 'io.genesisdb.app',
            'subject': '/user/456',
            'type': 'io.genesisdb.app.user-created',
            'data': {
                'firstName': 'John',
                'lastName': 'Doe',
                'email': 'john.doe@example.com'
            },
            'options': {
                'store_data_as_reference': True
            }
        }
    ])
    before = await client.stream_events('/user/456')
    assert before[0].data == {'firstName': 'John', 'lastName': 'Doe', 'email': 'john.doe@example.com'}

    await client.erase_data('/user/456')

    after = await client.stream_events('/user/456')
    assert len(after) == 1  # the event is still there
    assert after[0].id == before[0].id
    assert after[0].data == {'firstName': '', 'lastName': '', 'email': ''}
    # the hash chain still verifies after the erase
    audit_response = await client.audit()
    assert audit_response.startswith('Audit passed')
    await client.aclose()


@contextlib.asynccontextmanager
async def committing(client, make_event):
    """Commits ``make_event(n)`` for n = 0, 1, ... every 50 ms while the body runs."""
    committed = []

    async def committer():
        n = 0
        while True:
            ev = make_event(n)
            await client.commit_events([ev])
            committed.append(ev)
            n += 1
            await asyncio.sleep(0.05)

    task = asyncio.create_task(committer())
    try:
        yield committed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def customer_added(n):
    return {'source': 'io.genesisdb.app', 'subject': f'/customer/{n}',
            'type': 'io.genesisdb.app.customer-added', 'data': {'n': n}}


async def test_observe_yields_events_committed_while_it_runs():
    client = Client()
    received = []

    async def observe():
        async for event in client.observe_events('/customer'):
            print('Received event:', event)
            received.append(event)
            if len(received) == 3:
                break

    async with committing(client, customer_added):
        await asyncio.wait_for(observe(), 20)
    ns = [e.data['n'] for e in received]
    # three consecutive commits, in commit order (the observer joined at some point)
    assert ns == list(range(ns[0], ns[0] + 3))
    assert [e.subject for e in received] == [f'/customer/{n}' for n in ns]
    assert all(e.type == 'io.genesisdb.app.customer-added' for e in received)
    await client.aclose()


async def test_observe_with_lower_bound_replays_first():
    client = Client()
    await commit_readme_batch(client)
    first = (await client.stream_events('/customer'))[0]
    assert first.data['firstName'] == 'Bruce'

    received = []
    async for event in client.observe_events('/customer', {
        'lower_bound': first.id,
        'include_lower_bound_event': True
    }):
        print('Received event:', event)
        received.append(event)
        if len(received) == 3:
            break
    assert [e.data['firstName'] for e in received] == ['Bruce', 'Alfred', 'Angus']
    assert received[0].id == first.id
    await client.aclose()


async def test_observe_latest_by_event_type():
    client = Client()
    received = []

    async def observe():
        async for event in client.observe_events('/customer', {
            'latest_by_event_type': 'io.genesisdb.app.customer-updated'
        }):
            print('Received latest event:', event)
            received.append(event)
            if len(received) == 2:
                break

    def make(n):
        # alternate a type that must be filtered out with the observed type
        t = 'io.genesisdb.app.customer-updated' if n % 2 else 'io.genesisdb.app.customer-added'
        return {'source': 'io.genesisdb.app', 'subject': '/customer/7', 'type': t, 'data': {'n': n}}

    async with committing(client, make):
        await asyncio.wait_for(observe(), 20)
    assert all(e.type == 'io.genesisdb.app.customer-updated' for e in received)
    assert all(e.data['n'] % 2 == 1 for e in received)
    await client.aclose()


async def test_query_events_customer_list():
    client = Client()
    await commit_readme_batch(client)
    results = await client.query_events(
        'STREAM e FROM events WHERE e.type == "io.genesisdb.app.customer-added" '
        'ORDER BY e.time DESC LIMIT 20 '
        'MAP { subject: e.subject, firstName: e.data.firstName }'
    )
    print('Query results:', results)
    assert results == [
        {'subject': '/customer', 'firstName': 'Alfred'},
        {'subject': '/customer', 'firstName': 'Bruce'},
    ]
    # q is the same route under its older name
    assert await client.q(
        'STREAM e FROM events WHERE e.type == "io.genesisdb.app.customer-added" '
        'ORDER BY e.time DESC LIMIT 20 '
        'MAP { subject: e.subject, firstName: e.data.firstName }'
    ) == results
    await client.aclose()


async def test_ping_and_audit():
    client = Client()
    # Check API status
    ping_response = await client.ping()
    print('Ping response:', ping_response)
    assert ping_response == 'pong'

    await commit_readme_batch(client)
    # Run audit to check event consistency
    audit_response = await client.audit()
    print('Audit response:', audit_response)
    assert audit_response == 'Audit passed. All 4 events integrity checks succeeded.'
    await client.aclose()


async def test_client_from_config_dict(env):
    # the official SDK's dict form
    client = Client({'api_url': env.url, 'api_version': 'v1', 'auth_token': env.token})
    assert await client.ping() == 'pong'
    await client.commit_events([USER_456])
    assert len(await client.stream_events('/user')) == 1
    await client.aclose()
